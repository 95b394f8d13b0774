using static TorchSharp.torch;

namespace Became.Core.TaskAgnostic;

/// <summary>
/// Linear discriminant analysis over every class of every task kept in a <see cref="ClassFeatureMemory"/>: with the
/// shrunk pooled covariance Σ and equal class priors, class k scores g_k(x) = xᵀΣ⁻¹μ_k − ½μ_kᵀΣ⁻¹μ_k (the
/// log-posterior up to a term common to all classes), one matrix product per batch. A task's probability is the sum
/// of its classes' posteriors.
/// </summary>
public sealed class LinearDiscriminant : IDisposable
{
    private readonly Tensor _weight;
    private readonly Tensor _bias;
    private readonly Tensor _classTask;

    private LinearDiscriminant(Tensor weight, Tensor bias, Tensor classTask, IReadOnlyList<int> taskClasses, Device device)
    {
        _weight = weight;
        _bias = bias;
        _classTask = classTask;
        TaskClasses = taskClasses;
        Device = device;
    }

    /// <summary>Where its tensors live; features must be there too.</summary>
    public Device Device { get; }

    /// <summary>Class count of each task, in task order.</summary>
    public IReadOnlyList<int> TaskClasses { get; }

    /// <summary>Every class's discriminant g [N, K] for features [N, d], classes in task order (task 0's first).</summary>
    public Tensor ClassScores(Tensor features) => features.to(float32).matmul(_weight.t()).add_(_bias);

    /// <summary>p(task | x) [N, T] on the CPU: the class posteriors summed over each task's classes.</summary>
    public Tensor TaskProbabilities(Tensor features)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var scores = ClassScores(features).cpu();
        int n = (int)scores.shape[0];
        var probabilities = new float[n * TaskClasses.Count];
        var offsets = Offsets(TaskClasses);
        for (int i = 0; i < n; i++)
        {
            TaskPosteriors(scores[i].data<float>().ToArray(), TaskClasses, offsets, probabilities.AsSpan(i * TaskClasses.Count, TaskClasses.Count));
        }

        return tensor(probabilities, [n, TaskClasses.Count]).MoveToOuterDisposeScope();
    }

    /// <summary>The first column of each task's classes among all K.</summary>
    internal static int[] Offsets(IReadOnlyList<int> classes)
    {
        var offsets = new int[classes.Count];
        for (int t = 1; t < classes.Count; t++)
        {
            offsets[t] = offsets[t - 1] + classes[t - 1];
        }

        return offsets;
    }

    /// <summary>p(task | x) from one input's class scores g [K]: the softmax of g summed over each task's classes,
    /// written to <paramref name="tasks"/> [T].</summary>
    internal static void TaskPosteriors(ReadOnlySpan<float> scores, IReadOnlyList<int> classes, int[] offsets, Span<float> tasks)
    {
        float top = float.NegativeInfinity;
        foreach (float v in scores)
        {
            top = Math.Max(top, v);
        }

        double total = 0;
        Span<double> sums = stackalloc double[tasks.Length];
        for (int t = 0; t < tasks.Length; t++)
        {
            double sum = 0;
            for (int c = offsets[t]; c < offsets[t] + classes[t]; c++)
            {
                sum += Math.Exp(scores[c] - top);
            }

            sums[t] = sum;
            total += sum;
        }

        for (int t = 0; t < tasks.Length; t++)
        {
            tasks[t] = (float)(sums[t] / total);
        }
    }

    /// <summary>Builds the discriminant from per-task means and counts (float64, CPU) and the pooled scatter.</summary>
    internal static LinearDiscriminant From(IReadOnlyList<Tensor> means, IReadOnlyList<Tensor> counts, Tensor scatter, double shrinkage, Device device)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var mu = cat(means.ToArray(), 0);
        var n = cat(counts.ToArray(), 0);
        long d = scatter.shape[0];
        long seen = (long)n.gt(0).sum().item<long>();
        double freedom = Math.Max(1.0, n.sum().item<double>() - seen);
        var covariance = scatter / freedom;
        double meanEigenvalue = covariance.trace().item<double>() / d;

        // A tiny floor keeps Σ invertible when a feature never varies (a dead ReLU) and λ is 0.
        double ridge = shrinkage * meanEigenvalue + 1e-9 * Math.Max(meanEigenvalue, 1e-12);
        var shrunk = covariance * (1 - shrinkage) + eye(d, dtype: float64) * ridge;
        var projected = linalg.solve(shrunk, mu.t()).t(); // Σ⁻¹μ_k as rows, [K, d]
        var bias = (projected * mu).sum(1).mul_(-0.5);
        bias.masked_fill_(n.eq(0), double.NegativeInfinity);
        var classTask = cat(means.Select((m, t) => full(m.shape[0], t, dtype: int64)).ToArray(), 0);
        var taskClasses = means.Select(m => (int)m.shape[0]).ToList();
        return new LinearDiscriminant(
            projected.to(float32).to(device).DetachFromDisposeScope(),
            bias.to(float32).to(device).DetachFromDisposeScope(),
            classTask.to(device).DetachFromDisposeScope(),
            taskClasses,
            device);
    }

    public void Dispose()
    {
        _weight.Dispose();
        _bias.Dispose();
        _classTask.Dispose();
    }
}
