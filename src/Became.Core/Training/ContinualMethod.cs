namespace Became.Core.Training;

/// <summary>How stage 2 is folded back into the stable weights.</summary>
public enum MergeKind
{
    /// <summary>No stage 2.</summary>
    None,

    /// <summary>BECAME's closed-form coefficient from the Fisher information.</summary>
    Adaptive,

    /// <summary>a = 1/(t+1), the reference's no-Fisher path.</summary>
    Fixed,
}

/// <summary>A continual-learning method as a composition of the learner's steps.</summary>
/// <param name="Name">finetune, gpm, became or fixed.</param>
/// <param name="ProjectGradients">Stage 1 projects gradients onto the complement of the feature memory.</param>
/// <param name="Merge">Whether and how a plastic stage 2 is merged in.</param>
public sealed record ContinualMethod(string Name, bool ProjectGradients, MergeKind Merge)
{
    /// <summary>Plain SGD on each task: no protection (forgets).</summary>
    public static readonly ContinualMethod Finetune = new("finetune", false, MergeKind.None);

    /// <summary>Gradient projection memory: stage 1 only.</summary>
    public static readonly ContinualMethod Gpm = new("gpm", true, MergeKind.None);

    /// <summary>GPM stage 1, plastic stage 2, adaptive Fisher merge.</summary>
    public static readonly ContinualMethod Became = new("became", true, MergeKind.Adaptive);

    /// <summary>GPM stage 1, plastic stage 2, fixed merge a = 1/(t+1).</summary>
    public static readonly ContinualMethod FixedMerge = new("fixed", true, MergeKind.Fixed);

    public static IReadOnlyList<ContinualMethod> All { get; } = [Finetune, Gpm, Became, FixedMerge];

    public bool KeepsMemory => ProjectGradients;

    public bool HasPlasticStage => Merge != MergeKind.None;

    /// <summary>Finds a method by name (case-insensitive) or throws with the list of known ones.</summary>
    public static ContinualMethod Parse(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown method '{name}'. Known: {string.Join(", ", All.Select(m => m.Name))}.");
}
