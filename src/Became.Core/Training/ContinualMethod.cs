using Became.Core.Merging;

namespace Became.Core.Training;

/// <summary>
/// A continual-learning method as users name it (<c>--methods</c>, <c>Training:Method</c>): whether stage 1 uses the
/// base method (<see cref="LearnerOptions.Memory"/>'s <see cref="Projection.GpmOptions.Projection"/>: gpm or sgp) and
/// which plugin, if any, adds a plastic stage 2. This record's <see cref="All"/> is the registry of the compositions.
/// </summary>
/// <param name="Name">finetune, gpm, became or fixed.</param>
/// <param name="UsesBaseMethod">Stage 1 is protected by the base method, which keeps its memory after each task.</param>
/// <param name="PlasticStage">Creates the plugin that adds stage 2 and merges it back, or null for none.</param>
public sealed record ContinualMethod(string Name, bool UsesBaseMethod, Func<LearnerOptions, LearnerPlugin>? PlasticStage = null)
{
    /// <summary>Plain SGD on each task: no protection (forgets).</summary>
    public static readonly ContinualMethod Finetune = new("finetune", false);

    /// <summary>The base method alone: stage 1 only.</summary>
    public static readonly ContinualMethod Gpm = new("gpm", true);

    /// <summary>The base method's stage 1, plastic stage 2, adaptive Fisher merge.</summary>
    public static readonly ContinualMethod Became = new("became", true, static o => BecameMerge.Adaptive(o.Fisher));

    /// <summary>The base method's stage 1, plastic stage 2, fixed merge a = 1/(t+1).</summary>
    public static readonly ContinualMethod FixedMerge = new("fixed", true, static _ => BecameMerge.Fixed());

    public static IReadOnlyList<ContinualMethod> All { get; } = [Finetune, Gpm, Became, FixedMerge];

    /// <summary>Stage 1 projects gradients onto the complement of the feature memory.</summary>
    public bool ProjectGradients => UsesBaseMethod;

    public bool KeepsMemory => UsesBaseMethod;

    public bool HasPlasticStage => PlasticStage is not null;

    /// <summary>Finds a method by name (case-insensitive) or throws with the list of known ones.</summary>
    public static ContinualMethod Parse(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown method '{name}'. Known: {string.Join(", ", All.Select(m => m.Name))}.");

    /// <summary>The plugins of a learner with <paramref name="options"/>, in the order their points are called: the
    /// stage-2 plugin, then the base method (last, so its memory update stays on the learner's thread).</summary>
    public IReadOnlyList<LearnerPlugin> CreatePlugins(LearnerOptions options) =>
        [.. PlasticStage is { } plastic ? [plastic(options)] : Array.Empty<LearnerPlugin>(), .. UsesBaseMethod ? [options.Memory.Projection.CreatePlugin(options)] : Array.Empty<LearnerPlugin>()];

    public override string ToString() => Name;
}
