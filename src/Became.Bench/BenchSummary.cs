using Became.Core.Evaluation;

namespace Became.Bench;

/// <summary>One method's figures over its seeds: means and population standard deviations (numpy's default ddof=0).</summary>
/// <param name="Method">The method's name.</param>
/// <param name="AccMean">Mean ACC over seeds, percent.</param>
/// <param name="AccStd">Population standard deviation (divide by n, numpy ddof=0) of ACC over seeds, percent.</param>
/// <param name="BwtMean">Mean BWT over seeds, percent.</param>
/// <param name="BwtStd">Population standard deviation (divide by n, numpy ddof=0) of BWT over seeds, percent.</param>
/// <param name="SecondsMean">Mean wall-clock seconds per run.</param>
/// <param name="Stage1SamplesPerSecondMean">Mean stage-1 throughput.</param>
/// <param name="Stage2SamplesPerSecondMean">Mean stage-2 throughput; 0 when the method has no stage 2.</param>
public sealed record BenchSummary(
    string Method,
    double AccMean,
    double AccStd,
    double BwtMean,
    double BwtStd,
    double SecondsMean,
    double Stage1SamplesPerSecondMean,
    double Stage2SamplesPerSecondMean)
{
    /// <summary>Mean accuracy without a task id over the seeds that measured it (percent), or null.</summary>
    public double? TaskAgnosticAccMean { get; init; }

    /// <summary>Mean task-id accuracy over the seeds that measured it (percent), or null.</summary>
    public double? TaskIdAccMean { get; init; }

    /// <summary>
    /// One summary per method, in the order methods first appear in <paramref name="results"/>.
    /// Standard deviations are population ones (divide by n, numpy's default ddof=0), as in the reference figures;
    /// a method with a single seed has a deviation of 0.
    /// </summary>
    public static IReadOnlyList<BenchSummary> Summarize(IEnumerable<ContinualRunResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        return results
            .GroupBy(r => r.Method, StringComparer.Ordinal)
            .Select(g =>
            {
                var runs = g.ToList();
                double[] acc = runs.Select(r => r.Acc).ToArray();
                double[] bwt = runs.Select(r => r.Bwt).ToArray();
                return new BenchSummary(
                    g.Key,
                    BenchRounding.Percent(acc.Average()),
                    BenchRounding.Percent(PopulationStd(acc)),
                    BenchRounding.Percent(bwt.Average()),
                    BenchRounding.Percent(PopulationStd(bwt)),
                    BenchRounding.Seconds(runs.Average(r => r.Seconds)),
                    BenchRounding.Throughput(runs.Average(r => r.Stage1SamplesPerSecond)),
                    BenchRounding.Throughput(runs.Average(r => r.Stage2SamplesPerSecond)))
                {
                    TaskAgnosticAccMean = MeanOf(runs, r => r.TaskAgnostic?.Accuracy),
                    TaskIdAccMean = MeanOf(runs, r => r.TaskAgnostic?.TaskIdAccuracy),
                };
            })
            .ToArray();
    }

    private static double? MeanOf(IReadOnlyList<ContinualRunResult> runs, Func<ContinualRunResult, double?> value)
    {
        double[] values = runs.Select(value).OfType<double>().ToArray();
        return values.Length == 0 ? null : BenchRounding.Percent(values.Average());
    }

    /// <summary>sqrt(sum((x - mean)^2) / n): numpy's np.std with its default ddof=0, not the sample (n-1) deviation.</summary>
    public static double PopulationStd(IReadOnlyCollection<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return 0;
        }

        double mean = values.Average();
        double sumSquares = values.Sum(v => (v - mean) * (v - mean));
        return Math.Sqrt(sumSquares / values.Count);
    }
}
