using Became.Core.Data;
using Became.Core.Models;
using static TorchSharp.torch;

namespace Became.Core.TaskAgnostic;

/// <summary>One input's answer without a task id.</summary>
/// <param name="Task">The predicted task (its index in the learner's history, the head).</param>
/// <param name="Prediction">The class within that task, from its head.</param>
/// <param name="Confidence">p(task | x) from the class statistics times the head's probability of the class.</param>
/// <param name="TaskConfidence">p(task | x) alone.</param>
/// <param name="Probabilities">The task's head's softmax probabilities for the input.</param>
public sealed record TaskAgnosticAnswer(int Task, int Prediction, double Confidence, double TaskConfidence, float[] Probabilities);

/// <summary>
/// Answers without a task id (class-incremental inference on a task-incremental learner, as Kim et al. 2022 factor
/// it: task-id prediction × within-task prediction): one body pass, the task whose classes' feature statistics
/// explain the input best (<see cref="LinearDiscriminant"/>), then that task's head for the class. Two tensors
/// come back from libtorch per batch (class scores and heads' logits); the rest is a few loops on the host, so the
/// answer costs little more than the task-aware one.
/// </summary>
public static class TaskAgnosticInference
{
    /// <summary>Answers for inputs [N, ...] (normalised as the network expects; N at least its minimum batch).</summary>
    public static IReadOnlyList<TaskAgnosticAnswer> Answer(IContinualNetwork network, ClassFeatureMemory memory, Tensor inputs)
    {
        var d = Decide(network, memory, inputs);
        return Enumerable.Range(0, d.Count).Select(i =>
        {
            int task = d.Tasks[i];
            var probabilities = d.Probabilities.AsSpan(i * d.Width + d.Offsets[task], d.Classes[task]).ToArray();
            return new TaskAgnosticAnswer(task, d.Predictions[i], (double)d.TaskConfidence[i] * probabilities[d.Predictions[i]], d.TaskConfidence[i], probabilities);
        }).ToArray();
    }

    /// <summary>Percent of every task's test inputs whose predicted task and class are both right, and percent whose
    /// task is right, over <paramref name="tasks"/> (task j answered by head j), in the network's evaluation batches.</summary>
    public static (double Accuracy, double TaskIdAccuracy) Evaluate(IContinualNetwork network, ClassFeatureMemory memory, IReadOnlyList<ContinualTask> tasks) =>
        Score(tasks, network, inputs =>
        {
            var decision = Decide(network, memory, inputs);
            return (decision.Tasks, decision.Predictions);
        });

    /// <summary>The body's features [N, d] of every input of <paramref name="data"/>, in the network's evaluation
    /// batches, without gradients and without dropout (the caller disposes them).</summary>
    public static Tensor FeaturesOf(IContinualNetwork network, LabelledSet data)
    {
        using var noGrad = no_grad();
        bool training = network.Training;
        network.Training = false;
        try
        {
            using var scope = NewDisposeScope();
            var parts = BatchRanges.Of(data.Count, network.EvaluationBatch, network.MinimumBatch)
                .Select(r => network.Features(data.Inputs.narrow(0, r.Start, r.Length)))
                .ToArray();
            return cat(parts, 0).MoveToOuterDisposeScope();
        }
        finally
        {
            network.Training = training;
        }
    }

    /// <summary>What <paramref name="memory"/>'s statistics are taken of (<see cref="ClassFeatureMemory.StatisticsFeatures"/>)
    /// for every input of <paramref name="data"/>, in the network's evaluation batches (the caller disposes them).</summary>
    public static Tensor StatisticsFeaturesOf(IContinualNetwork network, ClassFeatureMemory memory, LabelledSet data)
    {
        if (memory.Features.ExpansionWidth == 0)
        {
            return FeaturesOf(network, data);
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var parts = BatchRanges.Of(data.Count, 1000)
            .Select(r =>
            {
                var batch = data.Inputs.narrow(0, r.Start, r.Length);
                return memory.StatisticsFeatures(batch, batch);
            })
            .ToArray();
        return (parts.Length == 0 ? memory.StatisticsFeatures(data.Inputs, data.Inputs) : cat(parts, 0)).MoveToOuterDisposeScope();
    }

    /// <summary>The naive way, for comparison: the task whose head is most confident (largest max-softmax, or with
    /// <paramref name="energy"/> the largest log-sum-exp of its logits) and that head's class.</summary>
    public static (double Accuracy, double TaskIdAccuracy) EvaluateByHeadConfidence(IContinualNetwork network, IReadOnlyList<ContinualTask> tasks, bool energy) =>
        Score(tasks, network, inputs =>
        {
            using var scope = NewDisposeScope();
            var heads = network.ForwardAllHeads(inputs);
            var scores = stack(heads.Select(h => energy ? h.logsumexp(1) : h.softmax(1).max(1).values).ToArray(), 1);
            var task = scores.argmax(1);
            var perHead = stack(heads.Select(h => h.argmax(1)).ToArray(), 1);
            var prediction = perHead.gather(1, task.unsqueeze(1)).squeeze(1);
            return (task.cpu().data<long>().Select(t => (int)t).ToArray(), prediction.cpu().data<long>().Select(p => (int)p).ToArray());
        });

    /// <summary>How many inputs of <paramref name="data"/> (all of task <paramref name="task"/>) get both their task
    /// and class right, and how many their task, in the network's evaluation batches.</summary>
    public static (long Right, long RightTask) CountRight(IContinualNetwork network, ClassFeatureMemory memory, LabelledSet data, int task) =>
        Count(network, data, task, inputs =>
        {
            var decision = Decide(network, memory, inputs);
            return (decision.Tasks, decision.Predictions);
        });

    /// <summary>Per input: the task, p(task | x), the class within it; the chosen head's probabilities at its columns
    /// of a row-major [N, Width] (the other heads' columns stay 0); the heads' class counts and column offsets.</summary>
    private sealed record Decision(int Count, int[] Tasks, float[] TaskConfidence, int[] Predictions, float[] Probabilities, int Width, IReadOnlyList<int> Classes, int[] Offsets);

    private static Decision Decide(IContinualNetwork network, ClassFeatureMemory memory, Tensor inputs)
    {
        if (memory.TaskCount > network.HeadCount)
        {
            throw new InvalidOperationException($"The class statistics know {memory.TaskCount} tasks but the network has {network.HeadCount} heads.");
        }

        var discriminant = memory.Discriminant(network.Device);
        var classes = discriminant.TaskClasses;
        float[] scores, logits;
        int n;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var features = network.Features(inputs);
            n = (int)features.shape[0];
            scores = discriminant.ClassScores(memory.StatisticsFeatures(inputs, features)).cpu().data<float>().ToArray();
            logits = cat(Enumerable.Range(0, classes.Count).Select(h => network.HeadLogits(features, h)).ToArray(), 1).cpu().data<float>().ToArray();
        }

        int tasks = classes.Count;
        int width = classes.Sum();
        var offsets = LinearDiscriminant.Offsets(classes);
        var chosen = new int[n];
        var taskConfidence = new float[n];
        var predictions = new int[n];
        var probabilities = new float[n * width];
        Span<float> perTask = stackalloc float[tasks];
        for (int i = 0; i < n; i++)
        {
            LinearDiscriminant.TaskPosteriors(scores.AsSpan(i * width, width), classes, offsets, perTask);
            int best = 0;
            for (int t = 1; t < tasks; t++)
            {
                best = perTask[t] > perTask[best] ? t : best;
            }

            chosen[i] = best;
            taskConfidence[i] = perTask[best];

            // The chosen head's softmax (the only one the reply carries) and its class.
            var answer = probabilities.AsSpan(i * width + offsets[best], classes[best]);
            Softmax(logits.AsSpan(i * width + offsets[best], classes[best]), answer);
            int prediction = 0;
            for (int c = 1; c < answer.Length; c++)
            {
                prediction = answer[c] > answer[prediction] ? c : prediction;
            }

            predictions[i] = prediction;
        }

        return new Decision(n, chosen, taskConfidence, predictions, probabilities, width, classes, offsets);
    }

    private static void Softmax(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        float top = float.NegativeInfinity;
        foreach (float v in logits)
        {
            top = Math.Max(top, v);
        }

        double sum = 0;
        for (int c = 0; c < logits.Length; c++)
        {
            sum += Math.Exp(logits[c] - top);
        }

        for (int c = 0; c < logits.Length; c++)
        {
            probabilities[c] = (float)(Math.Exp(logits[c] - top) / sum);
        }
    }

    private static (long Right, long RightTask) Count(IContinualNetwork network, LabelledSet data, int task, Func<Tensor, (int[] Tasks, int[] Predictions)> decide)
    {
        using var noGrad = no_grad();
        long[] labels = data.Labels.cpu().data<long>().ToArray();
        long right = 0, rightTask = 0;
        foreach (var (start, n) in BatchRanges.Of(data.Count, network.EvaluationBatch, network.MinimumBatch))
        {
            var (tasks, predictions) = decide(data.Inputs.narrow(0, start, n));
            for (int i = 0; i < n; i++)
            {
                if (tasks[i] == task)
                {
                    rightTask++;
                    right += predictions[i] == labels[start + i] ? 1 : 0;
                }
            }
        }

        return (right, rightTask);
    }

    private static (double Accuracy, double TaskIdAccuracy) Score(IReadOnlyList<ContinualTask> tasks, IContinualNetwork network, Func<Tensor, (int[] Tasks, int[] Predictions)> decide)
    {
        long right = 0, rightTask = 0, total = 0;
        for (int j = 0; j < tasks.Count; j++)
        {
            var (r, rt) = Count(network, tasks[j].Test, j, decide);
            right += r;
            rightTask += rt;
            total += tasks[j].Test.Count;
        }

        return total == 0 ? (double.NaN, double.NaN) : (100.0 * right / total, 100.0 * rightTask / total);
    }
}
