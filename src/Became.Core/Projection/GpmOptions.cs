namespace Became.Core.Projection;

/// <summary>How the feature memory grows.</summary>
public sealed record GpmOptions
{
    /// <summary>Energy threshold per shared layer (GPM's MLP uses 0.95 and 0.99).</summary>
    public IReadOnlyList<double> Thresholds { get; init; } = ReferenceProtocol.Mlp.Thresholds;

    /// <summary>Added to every threshold per task index (0.003 in GPM's convolutional setting), capped below 1.</summary>
    public double ThresholdIncrement { get; init; } = ReferenceProtocol.Mlp.ThresholdIncrement;

    /// <summary>Samples of the task's training inputs in each representation matrix.</summary>
    public int Samples { get; init; } = ReferenceProtocol.Mlp.MemorySamples;

    /// <summary>Samples per shared layer, overriding <see cref="Samples"/> (the reference's AlexNet uses 24, 100,
    /// 100, 125, 125: a convolution contributes a column per patch, so fewer samples fill its matrix).</summary>
    public IReadOnlyList<int>? LayerSamples { get; init; }

    /// <summary>The base method whose memory this is: GPM (full projection) or SGP (importance-scaled projection);
    /// <see cref="ProjectionKind.All"/> lists them.</summary>
    public ProjectionKind Projection { get; init; } = ProjectionKind.Gpm;

    /// <summary>SGP's scale s in lambda = (s+1)σ / (sσ + max σ); 10 in the reference.</summary>
    public double ScaleCoefficient { get; init; } = ReferenceProtocol.SgpScale;

    /// <summary>Samples in layer <paramref name="layer"/>'s representation matrix.</summary>
    public int SamplesFor(int layer) => LayerSamples is { } perLayer ? perLayer[layer] : Samples;

    /// <summary>The most samples any layer uses: how many inputs one representation pass draws.</summary>
    public int MaxSamples(int layers) => Enumerable.Range(0, layers).Max(SamplesFor);

    /// <summary>
    /// First task: keep the leading directions whose cumulative energy share is still below the threshold
    /// (the reference's count, one short of reaching it) when false; keep until it is reached when true.
    /// </summary>
    public bool ReachThresholdOnFirstTask { get; init; }

    public double ThresholdFor(int layer, int task)
    {
        double baseline = Thresholds[Math.Min(layer, Thresholds.Count - 1)];
        return Math.Min(baseline + ThresholdIncrement * task, 0.9999);
    }

    public void Validate(int layers)
    {
        if (Projection is null)
        {
            throw new ArgumentException($"Name a projection: {ProjectionKind.Names}.");
        }

        if (Thresholds.Count == 0 || Thresholds.Any(t => t is <= 0 or >= 1 || double.IsNaN(t)))
        {
            throw new ArgumentException("GPM thresholds must lie strictly between 0 and 1.");
        }

        if (Thresholds.Count != 1 && Thresholds.Count != layers)
        {
            throw new ArgumentException($"Give one GPM threshold or one per shared layer ({layers}); got {Thresholds.Count}.");
        }

        if (Samples < 1 || LayerSamples is { } perLayer && perLayer.Any(n => n < 1))
        {
            throw new ArgumentException("GPM needs at least one sample per representation matrix.");
        }

        if (LayerSamples is { } counts && counts.Count != layers)
        {
            throw new ArgumentException($"Give one GPM sample count per shared layer ({layers}); got {counts.Count}.");
        }

        if (!(ScaleCoefficient > 0) || double.IsInfinity(ScaleCoefficient))
        {
            throw new ArgumentException("The SGP scale coefficient must be a positive number.");
        }
    }
}
