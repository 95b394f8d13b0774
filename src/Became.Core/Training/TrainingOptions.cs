namespace Became.Core.Training;

/// <summary>SGD and the reference's learning-rate schedule, shared by both stages.</summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = ReferenceProtocol.Epochs;

    public int BatchSize { get; init; } = ReferenceProtocol.BatchSize;

    public double LearningRate { get; init; } = ReferenceProtocol.LearningRate;

    /// <summary>Training stops once the learning rate falls below this.</summary>
    public double MinLearningRate { get; init; } = ReferenceProtocol.MinLearningRate;

    /// <summary>The learning rate is divided by this when patience runs out.</summary>
    public double LearningRateFactor { get; init; } = ReferenceProtocol.LearningRateFactor;

    /// <summary>Epochs without a better validation loss before the learning rate falls.</summary>
    public int Patience { get; init; } = ReferenceProtocol.Patience;

    /// <summary>
    /// Intra-op threads during SGD steps; null picks 1 for batches of up to 32 samples and leaves the process
    /// setting otherwise. At batch 10 each op is a few microseconds of work and OpenMP's fork/join costs more
    /// than it saves (measured: a split-fmnist GPM run took 27 s on 2 threads, 11 s on 1).
    /// </summary>
    public int? StepThreads { get; init; }

    /// <summary>The step thread count to use, given the process's current setting.</summary>
    public int ResolveStepThreads(int processThreads) => StepThreads ?? (BatchSize <= 32 ? 1 : processThreads);

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException("Epochs must be at least 1.");
        if (BatchSize < 1) throw new ArgumentException("Batch size must be at least 1.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException("The learning rate must be a positive number.");
        if (!(MinLearningRate >= 0)) throw new ArgumentException("The minimum learning rate must be >= 0.");
        if (!(LearningRateFactor > 1)) throw new ArgumentException("The learning-rate factor must exceed 1.");
        if (Patience < 1) throw new ArgumentException("Patience must be at least 1.");
        if (StepThreads is < 1) throw new ArgumentException("Step threads must be at least 1.");
    }
}
