namespace Became.Core.Evaluation;

/// <summary>Everything one run of a method over a task stream produced.</summary>
/// <param name="Method">finetune, gpm, became or fixed.</param>
/// <param name="Seed">The run's seed.</param>
/// <param name="Accuracy">Test accuracy matrix in percent.</param>
/// <param name="MergeCoefficients">The merge coefficient a of each task after the first (empty for methods that do not merge).</param>
/// <param name="MemoryRanks">Per task, the rank of each shared layer's basis after that task (empty for methods without memory).</param>
/// <param name="Seconds">Wall-clock seconds of the whole run (training, Fisher, memory, evaluation).</param>
/// <param name="Stage1SamplesPerSecond">Training samples processed per second in stage 1 (and task 0).</param>
/// <param name="Stage2SamplesPerSecond">Training samples per second in stage 2; 0 when the method has no stage 2.</param>
public sealed record ContinualRunResult(
    string Method,
    int Seed,
    AccuracyMatrix Accuracy,
    IReadOnlyList<double> MergeCoefficients,
    IReadOnlyList<int[]> MemoryRanks,
    double Seconds,
    double Stage1SamplesPerSecond,
    double Stage2SamplesPerSecond)
{
    /// <summary>Wall-clock seconds per phase (stage1, stage2, merge, fisher, memory, evaluation), summed over tasks.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> Phases { get; init; } = [];

    /// <summary>Process CPU seconds per phase (both cores), summed over tasks.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> PhaseCpuSeconds { get; init; } = [];

    public double Acc => Accuracy.Acc;

    public double Bwt => Accuracy.Bwt;
}
