using System.Diagnostics;
using Became.Core.Data;
using Became.Core.Models;
using Became.Core.TaskAgnostic;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Evaluation;

/// <summary>Where an experiment is: which task of which run, and the last epoch's figures.</summary>
public sealed record ExperimentProgress(string Method, int Seed, int Task, int Tasks, EpochProgress? Epoch);

/// <summary>Runs one method over a whole task stream with one seed and measures it (accuracy matrix, merges, speed).</summary>
public static class ContinualExperiment
{
    /// <summary>Learns every task of the stream in order on a fresh multi-head MLP, testing all tasks seen after each.</summary>
    public static ContinualRunResult Run(
        TaskStream stream,
        LearnerOptions options,
        IReadOnlyList<int> hiddenSizes,
        int seed,
        IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        Run(stream, options, () => ModelSpec.Mlp(hiddenSizes).Create(stream.InputShape), seed, progress, cancellationToken);

    /// <summary>Learns every task of the stream in order on a fresh network from <paramref name="createNetwork"/>
    /// (called after seeding the global generator, so its initial weights follow the seed), testing all tasks
    /// seen after each.</summary>
    public static ContinualRunResult Run(
        TaskStream stream,
        LearnerOptions options,
        Func<IContinualNetwork> createNetwork,
        int seed,
        IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        manual_seed(seed);
        using var network = createNetwork();
        using var learner = new ContinualLearner(network, options, seed);
        int tasks = stream.Tasks.Count;
        var accuracy = new AccuracyMatrix(tasks);
        var merges = new List<double>();
        var ranks = new List<int[]>();
        long samples1 = 0, samples2 = 0;
        double seconds1 = 0, seconds2 = 0;
        string method = options.Method.Name;
        for (int i = 0; i < tasks; i++)
        {
            int task = i;
            progress?.Report(new ExperimentProgress(method, seed, task, tasks, null));
            var epochs = progress is null ? null : new SynchronousProgress<EpochProgress>(e => progress.Report(new ExperimentProgress(method, seed, task, tasks, e)));
            var outcome = learner.Learn(stream.Tasks[i], epochs, cancellationToken);
            samples1 += outcome.Stage1.Samples;
            seconds1 += outcome.Stage1.TrainingSeconds;
            if (outcome.Stage2 is { } s2)
            {
                samples2 += s2.Samples;
                seconds2 += s2.TrainingSeconds;
            }

            if (outcome.MergeCoefficient is { } a)
            {
                merges.Add(a);
            }

            if (outcome.MemoryRanks.Length > 0)
            {
                ranks.Add(outcome.MemoryRanks);
            }

            using var evaluation = learner.Phases.Start("evaluation");
            Evaluate(network, stream, i, accuracy);
        }

        TaskAgnosticScores taskAgnostic;
        using (learner.Phases.Start("task-agnostic evaluation"))
        {
            taskAgnostic = EvaluateTaskAgnostic(learner, stream);
        }

        return new ContinualRunResult(
            method,
            seed,
            accuracy,
            merges,
            ranks,
            clock.Elapsed.TotalSeconds,
            seconds1 > 0 ? samples1 / seconds1 : 0,
            seconds2 > 0 ? samples2 / seconds2 : 0)
        {
            Phases = learner.Phases.Seconds,
            PhaseCpuSeconds = learner.Phases.CpuSeconds,
            TaskAgnostic = taskAgnostic,
        };
    }

    /// <summary>Task-agnostic answers over every task's test set: with the learner's statistics, the naive head
    /// scores, and statistics recomputed at the final weights (how much the body's drift costs).</summary>
    private static TaskAgnosticScores EvaluateTaskAgnostic(ContinualLearner learner, TaskStream stream)
    {
        var network = learner.Network;
        var keptScores = TaskAgnosticInference.Evaluate(network, learner.ClassStatistics, stream.Tasks);
        var softmax = TaskAgnosticInference.EvaluateByHeadConfidence(network, stream.Tasks, energy: false);
        var energy = TaskAgnosticInference.EvaluateByHeadConfidence(network, stream.Tasks, energy: true);
        var kept = learner.ClassStatistics;
        using var recomputed = new ClassFeatureMemory(kept.Shrinkage, kept.Features, kept.ExpansionSeed);
        foreach (var task in stream.Tasks)
        {
            using var features = TaskAgnosticInference.StatisticsFeaturesOf(network, recomputed, task.Train);
            recomputed.AddTask(features, task.Train.Labels, task.Classes);
        }

        var fresh = TaskAgnosticInference.Evaluate(network, recomputed, stream.Tasks);
        return new TaskAgnosticScores(keptScores.Accuracy, keptScores.TaskIdAccuracy, softmax.Accuracy, energy.Accuracy, fresh.Accuracy, fresh.TaskIdAccuracy);
    }

    /// <summary>Row <paramref name="row"/> of the accuracy matrix: tasks 0..row, the even ones on a second thread
    /// (<see cref="TwoThreads"/>; a linear stack's forward pass keeps no state, so both may read it at once).</summary>
    private static void Evaluate(IContinualNetwork network, TaskStream stream, int row, AccuracyMatrix accuracy)
    {
        double[] scores = new double[row + 1];
        void Score(int parity)
        {
            for (int j = parity; j <= row; j += 2)
            {
                scores[j] = Evaluator.Accuracy(network, stream.Tasks[j].Test, j);
            }
        }

        if (CanEvaluateConcurrently(network) && row > 0)
        {
            TwoThreads.Run(() => { Score(0); return 0; }, () => { Score(1); return 0; }, _ => { });
        }
        else
        {
            Score(0);
            Score(1);
        }

        for (int j = 0; j <= row; j++)
        {
            accuracy[row, j] = scores[j];
        }
    }

    /// <summary>Two threads may evaluate the network at once: its forward pass keeps no state.</summary>
    private static bool CanEvaluateConcurrently(IContinualNetwork network) => network.Capabilities.HasFlag(NetworkCapabilities.ConcurrentForward);

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
