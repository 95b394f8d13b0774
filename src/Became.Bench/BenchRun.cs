using Became.Core.Evaluation;

namespace Became.Bench;

/// <summary>One run of one method with one seed, as written in the report (accuracies in percent, rounded).</summary>
/// <param name="Method">The method's name.</param>
/// <param name="Seed">The run's seed.</param>
/// <param name="Acc">Average accuracy after the last task, percent.</param>
/// <param name="Bwt">Backward transfer, percent.</param>
/// <param name="AccMatrix">R[i][j] = accuracy (percent) on task j after learning task i.</param>
/// <param name="MergeCoefficients">Merge coefficient of each task after the first; empty when the method does not merge.</param>
/// <param name="MemoryRanks">Per task, the rank of each shared layer's memory basis; empty when the method keeps none.</param>
/// <param name="Seconds">Wall-clock seconds of the run.</param>
/// <param name="Stage1SamplesPerSecond">Stage-1 training throughput.</param>
/// <param name="Stage2SamplesPerSecond">Stage-2 training throughput; 0 when the method has no stage 2.</param>
public sealed record BenchRun(
    string Method,
    int Seed,
    double Acc,
    double Bwt,
    IReadOnlyList<IReadOnlyList<double>> AccMatrix,
    IReadOnlyList<double> MergeCoefficients,
    IReadOnlyList<IReadOnlyList<int>> MemoryRanks,
    double Seconds,
    double Stage1SamplesPerSecond,
    double Stage2SamplesPerSecond)
{
    /// <summary>Answers without a task id after the last task; null in reports written before they were measured.</summary>
    public TaskAgnosticScores? TaskAgnostic { get; init; }

    /// <summary>The report's view of a run: accuracies to 3 decimals, coefficients to 4, seconds to 2, throughput to 1.</summary>
    public static BenchRun From(ContinualRunResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new BenchRun(
            result.Method,
            result.Seed,
            BenchRounding.Percent(result.Acc),
            BenchRounding.Percent(result.Bwt),
            result.Accuracy.ToRows().Select(r => (IReadOnlyList<double>)r.Select(BenchRounding.Percent).ToArray()).ToArray(),
            result.MergeCoefficients.Select(BenchRounding.Coefficient).ToArray(),
            result.MemoryRanks.Select(r => (IReadOnlyList<int>)r.ToArray()).ToArray(),
            BenchRounding.Seconds(result.Seconds),
            BenchRounding.Throughput(result.Stage1SamplesPerSecond),
            BenchRounding.Throughput(result.Stage2SamplesPerSecond))
        {
            TaskAgnostic = result.TaskAgnostic is { } s ? new TaskAgnosticScores(
                BenchRounding.Percent(s.Accuracy),
                BenchRounding.Percent(s.TaskIdAccuracy),
                BenchRounding.Percent(s.MaxSoftmaxAccuracy),
                BenchRounding.Percent(s.EnergyAccuracy),
                BenchRounding.Percent(s.RecomputedAccuracy),
                BenchRounding.Percent(s.RecomputedTaskIdAccuracy)) : null,
        };
    }
}
