using Became.Core.Merging;
using Became.Core.Projection;

namespace Became.Core.Training;

/// <summary>Everything the continual learner needs to know besides the network.</summary>
public sealed record LearnerOptions
{
    public ContinualMethod Method { get; init; } = ContinualMethod.Became;

    public TrainingOptions Training { get; init; } = new();

    public GpmOptions Memory { get; init; } = new();

    public FisherOptions Fisher { get; init; } = new();

    /// <summary>Where stage 1's projection is applied; <see cref="ProjectionSite.Inputs"/> falls back to
    /// gradients for networks that cannot project inputs.</summary>
    public ProjectionSite ProjectionSite { get; init; } = ProjectionSite.Inputs;

    /// <summary>What the class statistics for answers without a task id are taken of.</summary>
    public TaskAgnostic.TaskFeatures TaskFeatures { get; init; } = TaskAgnostic.TaskFeatures.Body;

    /// <summary>Decay of the accumulated Fisher: F_old &lt;- F_t + gamma F_old.</summary>
    public double Gamma { get; init; } = 1.0;
}
