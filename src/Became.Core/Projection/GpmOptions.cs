namespace Became.Core.Projection;

/// <summary>How the feature memory grows.</summary>
public sealed record GpmOptions
{
    /// <summary>Energy threshold per shared layer (GPM's MLP uses 0.95 and 0.99).</summary>
    public IReadOnlyList<double> Thresholds { get; init; } = [0.95, 0.99];

    /// <summary>Added to every threshold per task index (0.003 in GPM's convolutional setting), capped below 1.</summary>
    public double ThresholdIncrement { get; init; }

    /// <summary>Samples of the task's training inputs in each representation matrix.</summary>
    public int Samples { get; init; } = 300;

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
        if (Thresholds.Count == 0 || Thresholds.Any(t => t is <= 0 or >= 1 || double.IsNaN(t)))
        {
            throw new ArgumentException("GPM thresholds must lie strictly between 0 and 1.");
        }

        if (Thresholds.Count != 1 && Thresholds.Count != layers)
        {
            throw new ArgumentException($"Give one GPM threshold or one per shared layer ({layers}); got {Thresholds.Count}.");
        }

        if (Samples < 1)
        {
            throw new ArgumentException("GPM needs at least one sample per representation matrix.");
        }
    }
}
