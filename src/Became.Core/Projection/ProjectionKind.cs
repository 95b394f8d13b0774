using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Projection;

/// <summary>
/// A base method: how stage 1 keeps earlier tasks' layer responses (its <see cref="LearnerPlugin"/>) and how its
/// memory weighs the stored directions. This class is also the registry of base methods: a new one (TRGP, GPCNS,
/// Adam-NSCL) is its own file and one line in <see cref="All"/>. Plain fine-tuning has no base method.
/// </summary>
public abstract class ProjectionKind
{
    /// <summary>GPM (Saha et al., 2021): remove every stored direction fully, G - G U Uᵀ.</summary>
    public static ProjectionKind Gpm { get; } = new GpmMethod();

    /// <summary>SGP (Saha and Roy, 2023): remove each stored direction in proportion to its importance, G - G U Λ Uᵀ.</summary>
    public static ProjectionKind Sgp { get; } = new SgpMethod();

    /// <summary>Every base method, by the name users give (<c>--projection</c>, <c>Training:Projection</c>).</summary>
    public static IReadOnlyList<ProjectionKind> All { get; } = [Gpm, Sgp];

    /// <summary>The known names as a sentence's end: "gpm or sgp".</summary>
    public static string Names =>
        All.Count == 1 ? All[0].Name : $"{string.Join(", ", All.Take(All.Count - 1).Select(k => k.Name))} or {All[^1].Name}";

    /// <summary>The name users give (lower case).</summary>
    public abstract string Name { get; }

    /// <summary>One line on what it does.</summary>
    public abstract string Description { get; }

    /// <summary>Whether the memory keeps an importance per direction (the state file's <c>importance.{l}</c>), which
    /// <see cref="GpmOptions.ScaleCoefficient"/> shapes.</summary>
    public virtual bool WeighsDirections => false;

    /// <summary>Finds a base method by its exact name.</summary>
    public static bool TryParse(string? name, out ProjectionKind kind)
    {
        kind = All.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.Ordinal))!;
        return kind is not null;
    }

    /// <summary>Finds a base method by name or throws with one line naming the known ones.</summary>
    public static ProjectionKind Parse(string name) =>
        TryParse(name, out var kind) ? kind : throw new ArgumentException($"Unknown projection '{name}': not {Names}.");

    /// <summary>The plugin that does this method's work in a learner with <paramref name="options"/>.</summary>
    public abstract LearnerPlugin CreatePlugin(LearnerOptions options);

    /// <summary>Importances (float64, one per column) of a layer's first <paramref name="singularValues"/>.Length
    /// directions, or null: every stored direction fully protected.</summary>
    public virtual Tensor? FirstImportance(Tensor singularValues, GpmOptions options) => null;

    /// <summary>Importances of a layer's extended basis (old columns, then the added ones) after a task with
    /// representation <paramref name="representation"/>, or null: every stored direction fully protected.</summary>
    /// <param name="previous">The old directions' importances, or null (all 1).</param>
    /// <param name="basis">The basis before the update.</param>
    /// <param name="representation">The task's representation matrix.</param>
    /// <param name="addedSingularValues">Singular values of the added directions (may be empty).</param>
    /// <param name="options">The memory's options.</param>
    public virtual Tensor? ExtendedImportance(Tensor? previous, Tensor basis, Tensor representation, Tensor addedSingularValues, GpmOptions options) => null;

    public override string ToString() => Name;
}
