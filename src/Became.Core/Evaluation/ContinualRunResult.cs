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

    /// <summary>Answers without a task id after the last task, or null when not measured.</summary>
    public TaskAgnosticScores? TaskAgnostic { get; init; }

    public double Acc => Accuracy.Acc;

    public double Bwt => Accuracy.Bwt;
}

/// <summary>Answers without a task id over every task's test set after the last task, in percent: right means the
/// predicted task and its class are both right.</summary>
/// <param name="Accuracy">With the class statistics the learner kept (each taken when its task was learned).</param>
/// <param name="TaskIdAccuracy">How often the predicted task was right.</param>
/// <param name="MaxSoftmaxAccuracy">The naive way: the head with the largest max-softmax picks the task.</param>
/// <param name="EnergyAccuracy">The naive way with energy: the head with the largest log-sum-exp of its logits.</param>
/// <param name="RecomputedAccuracy">With statistics recomputed from every task's training data at the final weights
/// (what they would be without drift; a bench-only oracle, the device keeps no old data).</param>
/// <param name="RecomputedTaskIdAccuracy">Task-id accuracy with the recomputed statistics.</param>
public sealed record TaskAgnosticScores(
    double Accuracy,
    double TaskIdAccuracy,
    double MaxSoftmaxAccuracy,
    double EnergyAccuracy,
    double RecomputedAccuracy,
    double RecomputedTaskIdAccuracy);
