using Became.Core.Data;
using Became.Core.Merging;
using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Tests.Algorithm;

public sealed class LearnerPluginTests
{
    private static readonly TrainingOptions OneEpoch = new() { Epochs = 1, LearningRate = 0.05 };

    [Fact]
    public void Plugin_points_are_called_in_loop_order()
    {
        var recorder = new RecordingPlugin();
        Learn(new LearnerOptions { Method = ContinualMethod.Became, Training = OneEpoch, Memory = Memory() }, 2, recorder);

        string[] task = ["before task", "before stage 1", "after backward", "after stage 1"];
        string[] end = ["after task", "after-task work", "commit"];
        Assert.Equal([task[0], task[1], task[2], task[3], .. end, task[0], task[1], task[2], task[3], "before stage 2", "after stage 2", .. end], recorder.Collapsed);
    }

    [Fact]
    public void Plugin_after_backward_step_runs_once_per_batch()
    {
        var recorder = new RecordingPlugin();
        Learn(new LearnerOptions { Method = ContinualMethod.Finetune, Training = OneEpoch with { BatchSize = 50 }, Memory = Memory() }, 1, recorder);

        Assert.Equal(200 / 50, recorder.Calls.Count(c => c == "after backward"));
    }

    [Fact]
    public void First_task_has_no_plastic_stage_even_with_the_merge()
    {
        var outcomes = Learn(new LearnerOptions { Method = ContinualMethod.Became, Training = OneEpoch, Memory = Memory() }, 2);

        Assert.Null(outcomes[0].Stage2);
        Assert.Null(outcomes[0].MergeCoefficient);
        Assert.NotNull(outcomes[1].Stage2);
    }

    [Fact]
    public void Fine_tuning_has_no_stage_2_merge_or_memory()
    {
        var outcomes = Learn(new LearnerOptions { Method = ContinualMethod.Finetune, Training = OneEpoch, Memory = Memory() }, 2);

        Assert.All(outcomes, o => Assert.Null(o.Stage2));
        Assert.All(outcomes, o => Assert.Empty(o.MemoryRanks));
    }

    [Fact]
    public void Became_merge_composes_with_no_base_method()
    {
        var mergeOnly = new ContinualMethod("merge-only", false, ContinualMethod.Became.PlasticStage);
        using var run = new Run(new LearnerOptions { Method = mergeOnly, Training = OneEpoch, Memory = Memory() });

        var outcomes = run.Learn(2);

        Assert.InRange(outcomes[1].MergeCoefficient!.Value, 0, 1);
        Assert.NotEmpty(run.Learner.Fisher.Values);
        Assert.True(run.Learner.Memory.IsEmpty);
    }

    [Fact]
    public void Became_merge_composes_with_sgp()
    {
        using var run = new Run(new LearnerOptions { Method = ContinualMethod.Became, Training = OneEpoch, Memory = Memory(ProjectionKind.Sgp) });

        var outcomes = run.Learn(2);

        Assert.InRange(outcomes[1].MergeCoefficient!.Value, 0, 1);
        Assert.NotNull(run.Learner.Memory.Importance(0));
        Assert.NotEmpty(run.Learner.Fisher.Values);
    }

    [Fact]
    public void Became_merge_composes_with_a_new_base_method()
    {
        var custom = new CountingMethod();
        using var run = new Run(new LearnerOptions { Method = ContinualMethod.Became, Training = OneEpoch, Memory = Memory(custom) });

        var outcomes = run.Learn(2);

        Assert.Equal(2, custom.StableStages);
        Assert.Equal([7], outcomes[1].MemoryRanks);
        Assert.InRange(outcomes[1].MergeCoefficient!.Value, 0, 1);
    }

    [Fact]
    public void Fixed_merge_is_one_over_t_plus_one_without_a_fisher()
    {
        using var run = new Run(new LearnerOptions { Method = ContinualMethod.FixedMerge, Training = OneEpoch, Memory = Memory() });

        var outcomes = run.Learn(3);

        Assert.Equal(1.0 / 3, outcomes[2].MergeCoefficient);
        Assert.Empty(run.Learner.Fisher.Values);
    }

    [Fact]
    public void Learner_disposes_its_plugins()
    {
        var recorder = new RecordingPlugin();
        Learn(new LearnerOptions { Method = ContinualMethod.Finetune, Training = OneEpoch, Memory = Memory() }, 1, recorder);

        Assert.Equal("disposed", recorder.Calls[^1]);
    }

    [Fact]
    public void Stage_refuses_a_second_input_projection()
    {
        var twice = new ProjectingTwice();

        var error = Assert.Throws<InvalidOperationException>(() => Learn(new LearnerOptions { Method = ContinualMethod.Finetune, Training = OneEpoch, Memory = Memory() }, 1, twice));

        Assert.Contains("already projects", error.Message);
    }

    private static GpmOptions Memory(ProjectionKind? projection = null) =>
        new() { Thresholds = [0.9], Samples = 50, Projection = projection ?? ProjectionKind.Gpm };

    private static List<TaskOutcome> Learn(LearnerOptions options, int tasks, params LearnerPlugin[] plugins)
    {
        using var run = new Run(options, plugins);
        return run.Learn(tasks);
    }

    private static ContinualTask RandomTask(int index)
    {
        using var scope = NewDisposeScope();
        manual_seed(index + 11);
        LabelledSet Set(int n) => new(randn(n, 16).DetachFromDisposeScope(), randint(0, 3, [n]).DetachFromDisposeScope());
        return new ContinualTask(index, $"random {index}", 3, Set(200), Set(20), Set(20));
    }

    private sealed class Run : IDisposable
    {
        private readonly MultiHeadMlp _network = new(16, [12, 12], seed: 5);

        public Run(LearnerOptions options, params LearnerPlugin[] plugins) => Learner = new ContinualLearner(_network, options, 1, plugins);

        public ContinualLearner Learner { get; }

        public List<TaskOutcome> Learn(int tasks)
        {
            var outcomes = new List<TaskOutcome>();
            for (int t = 0; t < tasks; t++)
            {
                using var task = RandomTask(t);
                outcomes.Add(Learner.Learn(task));
            }

            return outcomes;
        }

        public void Dispose()
        {
            Learner.Dispose();
            _network.Dispose();
        }
    }

    /// <summary>Records every point it is called at, in order.</summary>
    private sealed class RecordingPlugin : LearnerPlugin
    {
        public List<string> Calls { get; } = [];

        /// <summary>The calls with repeated after-backward steps shown once, without the final dispose.</summary>
        public List<string> Collapsed => Calls.Where((c, i) => c != "disposed" && (i == 0 || c != Calls[i - 1])).ToList();

        public override void BeforeTask(TaskScope task) => Calls.Add("before task");

        public override void BeforeStage(StageScope stage)
        {
            Calls.Add($"before stage {(int)stage.Stage}");
            if (stage.Stage == LearnerStage.Stable)
            {
                stage.OnAfterBackward(() => Calls.Add("after backward"));
            }
        }

        public override void AfterStage(StageScope stage, StageResult result) => Calls.Add($"after stage {(int)stage.Stage}");

        public override AfterTaskWork AfterTask(TaskScope task)
        {
            Calls.Add("after task");
            return new AfterTaskWork("recording", () => { Calls.Add("after-task work"); return null; }, _ => Calls.Add("commit"));
        }

        public override void Dispose()
        {
            Calls.Add("disposed");
            base.Dispose();
        }
    }

    /// <summary>A base method from outside the library: counts its stable stages and reports a fixed rank.</summary>
    private sealed class CountingMethod : ProjectionKind
    {
        public int StableStages { get; private set; }

        public override string Name => "counting";

        public override string Description => "test base method";

        public override LearnerPlugin CreatePlugin(LearnerOptions options) => new Plugin(this);

        private sealed class Plugin(CountingMethod method) : LearnerPlugin
        {
            public override void BeforeStage(StageScope stage)
            {
                if (stage.Stage == LearnerStage.Stable)
                {
                    method.StableStages++;
                }
            }

            public override AfterTaskWork AfterTask(TaskScope task) => new("memory", () => new[] { 7 }, ranks => task.MemoryRanks = (int[])ranks!);
        }
    }

    private sealed class ProjectingTwice : LearnerPlugin
    {
        public override void BeforeStage(StageScope stage)
        {
            stage.ProjectInputs(new NoProjection());
            stage.ProjectInputs(new NoProjection());
        }

        private sealed class NoProjection : ILayerInputProjection
        {
            public Tensor Linear(int layerIndex, Tensor input, Tensor weight) => nn.functional.linear(input, weight);

            public Tensor? ProjectInput(int layerIndex, Tensor input) => null;
        }
    }
}
