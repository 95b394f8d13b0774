using static TorchSharp.torch;

namespace Became.Core.TaskAgnostic;

/// <summary>
/// Exemplar-free statistics of the body's features for telling tasks apart without a task id: per task, each class's
/// sample count and feature mean, and one within-class scatter pooled over every class of every task (streaming
/// LDA). Gradient projection keeps old tasks' features where they were, so statistics taken when a task was learned
/// stay valid; nothing of the data is kept. Memory: C·d means for C classes plus one d×d scatter.
/// </summary>
public sealed class ClassFeatureMemory : IDisposable
{
    /// <summary>The state-dict prefix of the statistics in a learner state.</summary>
    public const string Prefix = "classes.";

    private readonly List<Tensor> _means = [];
    private readonly List<Tensor> _counts = [];
    private Tensor? _scatter;
    private readonly Lock _gate = new();
    private LinearDiscriminant? _discriminant;

    /// <param name="shrinkage">λ of the covariance shrinkage towards its mean eigenvalue, (1-λ)Σ + λ·tr(Σ)/d·I, in [0, 1).</param>
    public ClassFeatureMemory(double shrinkage = DefaultShrinkage)
    {
        if (!(shrinkage is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(shrinkage), shrinkage, "shrinkage must lie in [0, 1).");
        }

        Shrinkage = shrinkage;
    }

    /// <summary>The default λ (measured on split-fmnist: see the README's task-agnostic section).</summary>
    public const double DefaultShrinkage = 0.1;

    public double Shrinkage { get; }

    /// <summary>Tasks whose statistics are kept.</summary>
    public int TaskCount => _means.Count;

    /// <summary>Width of the features; 0 before the first task.</summary>
    public long FeatureDimension => _scatter?.shape[0] ?? 0;

    /// <summary>Samples pooled into the scatter (its degrees of freedom are this less the class count).</summary>
    public long PooledSamples
    {
        get
        {
            using var scope = NewDisposeScope();
            return _counts.Sum(c => (long)c.sum().item<double>());
        }
    }

    /// <summary>Class count of each task, in task order.</summary>
    public IReadOnlyList<int> TaskClasses => _means.Select(m => (int)m.shape[0]).ToList();

    /// <summary>Adds a task's statistics from its training features <paramref name="features"/> [N, d] and labels
    /// [N] in 0..<paramref name="classes"/>-1. A class without samples gets no mean (it is never predicted).</summary>
    public void AddTask(Tensor features, Tensor labels, int classes)
    {
        if (features.dim() != 2 || labels.dim() != 1 || features.shape[0] != labels.shape[0])
        {
            throw new ArgumentException($"Features [{string.Join(", ", features.shape)}] and labels [{string.Join(", ", labels.shape)}] do not pair up as [N, d] and [N].");
        }

        if (_scatter is not null && features.shape[1] != _scatter.shape[0])
        {
            throw new ArgumentException($"Features are {features.shape[1]} wide but the memory holds {_scatter.shape[0]}.");
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = features.detach().to(CPU).to(float64);
        var y = labels.to(CPU).to(int64);
        long d = x.shape[1];
        var counts = zeros(classes, dtype: float64).index_add_(0, y, ones(y.shape[0], dtype: float64), 1);
        var sums = zeros(classes, d, dtype: float64).index_add_(0, y, x, 1);
        var means = sums / counts.clamp_min(1).unsqueeze(1);
        var centred = x - means.index_select(0, y);
        var scatter = centred.t().matmul(centred);
        if (_scatter is null)
        {
            _scatter = scatter.DetachFromDisposeScope();
        }
        else
        {
            _scatter.add_(scatter);
        }

        _means.Add(means.DetachFromDisposeScope());
        _counts.Add(counts.DetachFromDisposeScope());
        Invalidate();
    }

    /// <summary>The discriminant over every class kept, made once per change of the statistics (the memory owns it;
    /// readers on several threads share it).</summary>
    public LinearDiscriminant Discriminant(Device device)
    {
        lock (_gate)
        {
            if (_scatter is null)
            {
                throw new InvalidOperationException("No task's statistics are kept yet.");
            }

            if (_discriminant is null || _discriminant.Device.type != device.type || _discriminant.Device.index != device.index)
            {
                Invalidate();
                _discriminant = LinearDiscriminant.From(_means, _counts, _scatter, Shrinkage, device);
            }

            return _discriminant;
        }
    }

    /// <summary>Copies of the statistics as named tensors (<c>classes.mean.{t}</c>, <c>classes.count.{t}</c>,
    /// <c>classes.scatter</c>; CPU, the caller disposes them).</summary>
    public Dictionary<string, Tensor> Export()
    {
        var state = new Dictionary<string, Tensor>();
        for (int t = 0; t < _means.Count; t++)
        {
            state[$"{Prefix}mean.{t}"] = _means[t].clone().DetachFromDisposeScope();
            state[$"{Prefix}count.{t}"] = _counts[t].clone().DetachFromDisposeScope();
        }

        if (_scatter is not null)
        {
            state[Prefix + "scatter"] = _scatter.clone().DetachFromDisposeScope();
        }

        return state;
    }

    /// <summary>Replaces the statistics with exported ones (copies them); throws naming the first missing or
    /// misshapen tensor. A state without any (saved before the memory existed) leaves it empty.</summary>
    public void Import(IReadOnlyDictionary<string, Tensor> state)
    {
        Clear();
        if (!state.TryGetValue(Prefix + "scatter", out var scatter))
        {
            return;
        }

        long d = scatter.shape[0];
        if (scatter.dim() != 2 || scatter.shape[1] != d)
        {
            throw new InvalidDataException($"{Prefix}scatter is [{string.Join(", ", scatter.shape)}], not a square matrix.");
        }

        for (int t = 0; state.TryGetValue($"{Prefix}mean.{t}", out var mean); t++)
        {
            var count = state.TryGetValue($"{Prefix}count.{t}", out var c) ? c : throw new InvalidDataException($"The state lacks {Prefix}count.{t}.");
            if (mean.dim() != 2 || mean.shape[1] != d || count.dim() != 1 || count.shape[0] != mean.shape[0])
            {
                throw new InvalidDataException($"{Prefix}mean.{t} [{string.Join(", ", mean.shape)}] and {Prefix}count.{t} [{string.Join(", ", count.shape)}] do not fit features {d} wide.");
            }

            _means.Add(mean.detach().to(CPU).to(float64).clone().DetachFromDisposeScope());
            _counts.Add(count.detach().to(CPU).to(float64).clone().DetachFromDisposeScope());
        }

        _scatter = scatter.detach().to(CPU).to(float64).clone().DetachFromDisposeScope();
    }

    public void Dispose() => Clear();

    private void Clear()
    {
        _means.ForEach(t => t.Dispose());
        _counts.ForEach(t => t.Dispose());
        _means.Clear();
        _counts.Clear();
        _scatter?.Dispose();
        _scatter = null;
        Invalidate();
    }

    private void Invalidate()
    {
        _discriminant?.Dispose();
        _discriminant = null;
    }
}
