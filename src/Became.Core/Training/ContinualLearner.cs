using System.Diagnostics;
using Became.Core.Data;
using Became.Core.Merging;
using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.TaskAgnostic;
using static TorchSharp.torch;

namespace Became.Core.Training;

/// <summary>What learning one task did.</summary>
/// <param name="TaskIndex">Position of the task in the learner's history (0-based).</param>
/// <param name="Head">The head the task was given.</param>
/// <param name="MergeCoefficient">a of the merge, or null when there was none (task 0, or a method without stage 2).</param>
/// <param name="MemoryRanks">Basis rank of each shared layer after the task (empty without memory).</param>
/// <param name="Stage1">The stable (or only) stage.</param>
/// <param name="Stage2">The plastic stage, if any.</param>
/// <param name="Seconds">Wall-clock seconds for the whole task.</param>
public sealed record TaskOutcome(int TaskIndex, int Head, double? MergeCoefficient, int[] MemoryRanks, StageResult Stage1, StageResult? Stage2, double Seconds);

/// <summary>
/// Learns tasks one after another in one loop with named points where a <see cref="ContinualMethod"/>'s plugins
/// attach (<see cref="LearnerPlugin"/>): stage 1 (the base method's projection), a plastic stage 2 when a plugin asks
/// for it (BECAME's merge), then the plugins' read-only work after the task (the Fisher, the memory update).
/// </summary>
public sealed class ContinualLearner : IDisposable
{
    private readonly LearnerOptions _options;
    private readonly StageTrainer _trainer;
    private readonly Generator _generator;
    private readonly IReadOnlyList<LearnerPlugin> _plugins;

    public ContinualLearner(IContinualNetwork network, LearnerOptions options, long seed)
        : this(network, options, seed, [])
    {
    }

    /// <summary>A learner whose method's plugins are followed by <paramref name="extraPlugins"/> (it disposes them all).</summary>
    public ContinualLearner(IContinualNetwork network, LearnerOptions options, long seed, IEnumerable<LearnerPlugin> extraPlugins)
    {
        Network = network;
        _options = options;
        _trainer = new StageTrainer(options.Training);
        Memory = new GradientProjectionMemory(network.SharedLayers.Select(l => l.InputDimension).ToList(), options.Memory);
        Fisher = new FisherMemory(options.Gamma);
        ClassStatistics = new ClassFeatureMemory(features: options.TaskFeatures, expansionSeed: seed);
        _generator = new Generator((ulong)seed);
        _plugins = [.. options.Method.CreatePlugins(options), .. extraPlugins];
    }

    public IContinualNetwork Network { get; }

    public LearnerOptions Options => _options;

    public GradientProjectionMemory Memory { get; }

    public FisherMemory Fisher { get; }

    /// <summary>Each learned task's class statistics (of <see cref="LearnerOptions.TaskFeatures"/>), for answers without a task id.</summary>
    public ClassFeatureMemory ClassStatistics { get; }

    /// <summary>Wall-clock seconds per phase over every task learned so far.</summary>
    public PhaseClock Phases { get; } = new();

    /// <summary>Tasks learned so far (the index the next task gets).</summary>
    public int TasksLearned { get; set; }

    /// <summary>Learns one task on a new head and returns what happened.</summary>
    public TaskOutcome Learn(ContinualTask task, IProgress<EpochProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        int t = TasksLearned;
        int head = Network.AddHead(task.Classes);
        var scope = new TaskScope(this, task, t, head, progress, cancellationToken);
        var shared = Network.SharedParameters;
        var headParameters = Network.HeadParameters(head);
        foreach (var plugin in _plugins)
        {
            plugin.BeforeTask(scope);
        }

        // After task 0 the shared 1-D parameters (biases, norms) have no protected subspace: stage 1 freezes them.
        var stableTrainable = (t == 0 ? shared : shared.Where(p => p.Tensor.dim() > 1)).Concat(headParameters).ToList();
        var stage1 = RunStage(scope, LearnerStage.Stable, stableTrainable);
        var stage2 = _plugins.Any(p => p.AddsPlasticStage(scope))
            ? RunStage(scope, LearnerStage.Plastic, shared.Concat(headParameters).ToList())
            : null;

        cancellationToken.ThrowIfCancellationRequested();
        RunAfterTask(scope);
        using (Phases.Start("statistics"))
        {
            AddClassStatistics(task);
        }

        TasksLearned++;
        return new TaskOutcome(t, head, scope.MergeCoefficient, scope.MemoryRanks ?? [], stage1, stage2, clock.Elapsed.TotalSeconds);
    }

    private StageResult RunStage(TaskScope task, LearnerStage kind, IReadOnlyList<NamedParameter> trainable)
    {
        using var stage = new StageScope(task, kind, trainable);
        foreach (var plugin in _plugins)
        {
            plugin.BeforeStage(stage);
        }

        StageResult result;
        try
        {
            Network.InputProjector = stage.InputProjection;
            result = Phases.Time(
                kind == LearnerStage.Stable ? "stage1" : "stage2",
                () => _trainer.Train(Network, task.Task, task.Head, trainable, stage.AfterBackward, keepBest: kind == LearnerStage.Stable, _generator, (int)kind, task.Progress, task.CancellationToken));
        }
        finally
        {
            Network.InputProjector = null;
        }

        foreach (var plugin in _plugins)
        {
            plugin.AfterStage(stage, result);
        }

        return result;
    }

    /// <summary>The plugins' after-task work: two pieces on two threads at once where the network can be read so
    /// (the first on a second thread, the last on this one), else one after the other in plugin order.</summary>
    private void RunAfterTask(TaskScope task)
    {
        var works = _plugins.Select(p => p.AfterTask(task)).OfType<AfterTaskWork>().ToList();
        if (works.Count == 2 && CapabilityChecks.CanRunFisherBesideMemory(Network))
        {
            var (side, main) = (works[0], works[1]);
            using var timing = Phases.Start($"{side.Phase}+{main.Phase}");
            var (sideResult, mainResult) = TwoThreads.Run(side.Compute, main.Compute, r => side.Discard?.Invoke(r), r => main.Discard?.Invoke(r));
            side.Commit(sideResult);
            main.Commit(mainResult);
            return;
        }

        foreach (var work in works)
        {
            work.Commit(Phases.Time(work.Phase, work.Compute));
        }
    }

    /// <summary>The task's class statistics from its training data, taken with the weights the task ends with.</summary>
    private void AddClassStatistics(ContinualTask task)
    {
        using var features = TaskAgnosticInference.StatisticsFeaturesOf(Network, ClassStatistics, task.Train);

        // Tasks learned before the statistics existed (a state saved by an older version) keep empty places, so
        // task t stays at index t and is never predicted.
        for (int missing = ClassStatistics.TaskCount; missing < TasksLearned; missing++)
        {
            using var none = features.narrow(0, 0, 0);
            using var noLabels = task.Train.Labels.narrow(0, 0, 0);
            ClassStatistics.AddTask(none, noLabels, Network.HeadClasses[missing]);
        }

        ClassStatistics.AddTask(features, task.Train.Labels, task.Classes);
    }

    /// <summary>Each shared layer's representation matrix from a random sample of the data (in x n for a linear
    /// layer, in*k*k x n*positions for a convolution: <see cref="ConvRepresentation"/>); layer l uses the first
    /// <see cref="GpmOptions.SamplesFor"/> samples of one draw, as the reference does.</summary>
    public IReadOnlyList<Tensor> Representations(LabelledSet data, int head)
    {
        using var noGrad = no_grad();
        var layers = Network.SharedLayers;
        int n = Math.Min(_options.Memory.MaxSamples(layers.Count), data.Count);
        using var order = randperm(data.Count, generator: _generator);
        using var pick = order.narrow(0, 0, n).to(data.Inputs.device);
        using var inputs = data.Inputs.index_select(0, pick);
        var capture = new ForwardCapture();
        using var logits = Network.Forward(inputs, head, capture);
        return layers
            .Select(layer => ConvRepresentation.Of(layer, capture.LayerInputs[layer.Index].narrow(0, 0, Math.Min(_options.Memory.SamplesFor(layer.Index), n))))
            .ToList();
    }

    public void Dispose()
    {
        foreach (var plugin in _plugins)
        {
            plugin.Dispose();
        }

        Memory.Dispose();
        Fisher.Dispose();
        ClassStatistics.Dispose();
        _generator.Dispose();
    }
}
