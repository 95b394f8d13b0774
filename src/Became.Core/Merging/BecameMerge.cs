using Became.Core.Models;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Merging;

/// <summary>
/// BECAME's stage 2 and merge as a plugin that composes with any base method: from task 1 on, a plastic stage trains
/// every parameter from the stable weights, and the two are merged along the line between them, by the Fisher-weighted
/// coefficient (<see cref="AdaptiveMerge.Coefficient"/>; the task's Fisher at the merged weights is then accumulated)
/// or, in the fixed variant, by a = 1/(t+1) with no Fisher at all.
/// </summary>
public sealed class BecameMerge : LearnerPlugin
{
    private readonly FisherOptions? _fisher;
    private ParameterSnapshot? _stable;

    private BecameMerge(FisherOptions? fisher) => _fisher = fisher;

    /// <summary>The adaptive merge (became) with Fisher passes of <paramref name="fisher"/>.</summary>
    public static BecameMerge Adaptive(FisherOptions fisher) => new(fisher);

    /// <summary>The fixed merge a = 1/(t+1) (fixed): the reference's no-Fisher path.</summary>
    public static BecameMerge Fixed() => new(null);

    public override bool AddsPlasticStage(TaskScope task) => task.Index > 0;

    public override void BeforeStage(StageScope stage)
    {
        if (stage.Stage == LearnerStage.Plastic)
        {
            _stable = stage.Own(ParameterSnapshot.Take(stage.Trainable));
        }
    }

    public override void AfterStage(StageScope stage, StageResult result)
    {
        if (stage.Stage != LearnerStage.Plastic || _stable is not { } stable)
        {
            return;
        }

        _stable = null;
        var task = stage.Task;
        using var plastic = ParameterSnapshot.Take(stage.Trainable);

        // A plastic stage that diverged has nothing to offer: keep the stable weights (a = 0).
        double a = result.Diverged ? 0
            : _fisher is { } fisher ? task.Learner.Phases.Time("merge", () => AdaptiveCoefficient(task, fisher, stable, plastic))
            : AdaptiveMerge.Fixed(task.Index);
        Apply(stage.Trainable, AdaptiveMerge.Interpolate(stable.Values, plastic.Values, a));
        task.MergeCoefficient = a;
    }

    /// <summary>The task's Fisher at the merged weights, accumulated into the learner's (adaptive merge only).</summary>
    public override AfterTaskWork? AfterTask(TaskScope task) => _fisher is not { } fisher ? null : new(
        "fisher",
        () => TwoThreads.Fisher(task.Learner.Network, task.Head, task.Task.Train, fisher),
        taskFisher => task.Learner.Fisher.Accumulate((Dictionary<string, Tensor>)taskFisher!),
        TwoThreads.DisposeFisher);

    private static double AdaptiveCoefficient(TaskScope task, FisherOptions options, ParameterSnapshot stable, ParameterSnapshot plastic)
    {
        // The network holds the plastic weights here: F_t is the Fisher at theta_p.
        var taskFisher = TwoThreads.Fisher(task.Learner.Network, task.Head, task.Task.Train, options);
        try
        {
            return AdaptiveMerge.Coefficient(stable.Values, plastic.Values, taskFisher, task.Learner.Fisher.Values);
        }
        finally
        {
            TwoThreads.DisposeFisher(taskFisher);
        }
    }

    private static void Apply(IReadOnlyList<NamedParameter> parameters, Dictionary<string, Tensor> values)
    {
        using var noGrad = no_grad();
        foreach (var p in parameters)
        {
            p.Tensor.copy_(values[p.Name]);
        }

        foreach (var v in values.Values)
        {
            v.Dispose();
        }
    }
}
