using Became.Core.Data;
using Became.Core.Models;

namespace Became.Core.Training;

/// <summary>The stages of one task.</summary>
public enum LearnerStage
{
    /// <summary>Stage 1: the base method protects earlier tasks (projected, best weights kept).</summary>
    Stable = 1,

    /// <summary>Stage 2: every parameter free, last weights kept; only when a plugin asks for it.</summary>
    Plastic = 2,
}

/// <summary>
/// Behaviour that attaches to the named points of <see cref="ContinualLearner"/>'s loop (as Avalanche's strategy
/// plugins do): before the task, before and after each stage, after each backward pass (registered in
/// <see cref="BeforeStage"/>), after the task. A base method (<see cref="Projection.ProjectionKind"/>) and BECAME's
/// merge are plugins; the learner calls them in the order its method lists them.
/// </summary>
public abstract class LearnerPlugin : IDisposable
{
    /// <summary>Whether the task gets a plastic stage 2 (any plugin asking is enough).</summary>
    public virtual bool AddsPlasticStage(TaskScope task) => false;

    /// <summary>Before stage 1, once the task's head exists.</summary>
    public virtual void BeforeTask(TaskScope task)
    {
    }

    /// <summary>Before a stage trains: project its inputs or attach an after-backward step
    /// (<see cref="StageScope.ProjectInputs"/>, <see cref="StageScope.OnAfterBackward"/>), take snapshots.</summary>
    public virtual void BeforeStage(StageScope stage)
    {
    }

    /// <summary>After a stage trained (not after one that threw).</summary>
    public virtual void AfterStage(StageScope stage, StageResult result)
    {
    }

    /// <summary>Work after the task that only reads the weights (the Fisher, the memory's representations), or null.
    /// The learner may run two such pieces at once on two threads.</summary>
    public virtual AfterTaskWork? AfterTask(TaskScope task) => null;

    public virtual void Dispose() => GC.SuppressFinalize(this);
}

/// <summary>Read-only work after a task (the learner may run two at once).</summary>
/// <param name="Phase">Name of the phase in <see cref="PhaseClock"/> (fisher, memory).</param>
/// <param name="Compute">Reads the weights; may update state that only it touches.</param>
/// <param name="Commit">Keeps the result (on the learner's thread).</param>
/// <param name="Discard">Frees a result that will not be kept (the other work failed).</param>
public sealed record AfterTaskWork(string Phase, Func<object?> Compute, Action<object?> Commit, Action<object?>? Discard = null);

/// <summary>One task as the plugins see it.</summary>
public sealed class TaskScope
{
    internal TaskScope(ContinualLearner learner, ContinualTask task, int index, int head, IProgress<EpochProgress>? progress, CancellationToken cancellationToken)
    {
        Learner = learner;
        Task = task;
        Index = index;
        Head = head;
        Progress = progress;
        CancellationToken = cancellationToken;
    }

    public ContinualLearner Learner { get; }

    public ContinualTask Task { get; }

    /// <summary>The task's position in the learner's history (0-based).</summary>
    public int Index { get; }

    public int Head { get; }

    public IProgress<EpochProgress>? Progress { get; }

    public CancellationToken CancellationToken { get; }

    /// <summary>Set by a merging plugin: a of the merge.</summary>
    public double? MergeCoefficient { get; set; }

    /// <summary>Set by a base method: the memory's ranks after the task.</summary>
    public int[]? MemoryRanks { get; set; }
}

/// <summary>One stage of a task: what it trains, and what the plugins attached to it. Owns what they hand it
/// (<see cref="Own{T}"/>) until the stage ends, also when it throws.</summary>
public sealed class StageScope : IDisposable
{
    private readonly List<IDisposable> _owned = [];
    private readonly List<Action> _afterBackward = [];

    internal StageScope(TaskScope task, LearnerStage stage, IReadOnlyList<NamedParameter> trainable)
    {
        Task = task;
        Stage = stage;
        Trainable = trainable;
    }

    public TaskScope Task { get; }

    public LearnerStage Stage { get; }

    /// <summary>The parameters this stage trains.</summary>
    public IReadOnlyList<NamedParameter> Trainable { get; }

    /// <summary>The projection of shared layers' inputs in the forward pass, if a plugin set one.</summary>
    public ILayerInputProjection? InputProjection { get; private set; }

    /// <summary>The after-backward steps in order, or null: without one the network's fused SGD step may run.</summary>
    public Action? AfterBackward => _afterBackward.Count switch
    {
        0 => null,
        1 => _afterBackward[0],
        _ => () => _afterBackward.ForEach(step => step()),
    };

    /// <summary>Has the forward pass project the shared layers' inputs (one projection per stage).</summary>
    public void ProjectInputs(ILayerInputProjection projection)
    {
        if (InputProjection is not null)
        {
            throw new InvalidOperationException($"Stage {(int)Stage} already projects its inputs.");
        }

        InputProjection = projection;
    }

    /// <summary>Runs <paramref name="step"/> after each backward pass, before the SGD update.</summary>
    public void OnAfterBackward(Action step) => _afterBackward.Add(step);

    /// <summary>Disposes <paramref name="value"/> when the stage ends.</summary>
    public T Own<T>(T value)
        where T : IDisposable
    {
        _owned.Add(value);
        return value;
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }

        _owned.Clear();
    }
}
