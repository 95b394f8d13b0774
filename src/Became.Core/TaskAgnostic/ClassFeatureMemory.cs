using static TorchSharp.torch;

namespace Became.Core.TaskAgnostic;

/// <summary>
/// Exemplar-free statistics for telling tasks apart without a task id, of the body's features or of a fixed random
/// expansion of the input (<see cref="TaskFeatures"/>): per task, each class's sample count and feature mean, and one
/// within-class scatter pooled over every class of every task (streaming LDA). Gradient projection keeps old tasks'
/// body features near where they were (BECAME's merge less so; the input expansion does not move at all), so
/// statistics taken when a task was learned stay usable; nothing of the data is kept. Memory: C·d means for C classes
/// plus one d×d scatter.
/// </summary>
public sealed class ClassFeatureMemory : IDisposable
{
    /// <summary>The state-dict prefix of the statistics in a learner state.</summary>
    public const string Prefix = "classes.";

    private readonly List<Tensor> _means = [];
    private readonly List<Tensor> _counts = [];
    private Tensor? _scatter;
    private readonly Lock _gate = new();
    private readonly double? _shrinkage;
    private LinearDiscriminant? _discriminant;
    private Tensor? _expansion;

    /// <param name="shrinkage">λ of the covariance shrinkage towards its mean eigenvalue, (1-λ)Σ + λ·tr(Σ)/d·I, in [0, 1).</param>
    /// <param name="features">What the statistics are taken of (<see cref="TaskFeatures"/>).</param>
    /// <param name="expansionSeed">Seed of the random input expansion's weights (unused for the body's features).</param>
    public ClassFeatureMemory(double? shrinkage = null, TaskFeatures? features = null, long expansionSeed = 0)
    {
        if (shrinkage is double value && !(value is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(shrinkage), shrinkage, "shrinkage must lie in [0, 1).");
        }

        _shrinkage = shrinkage;
        Features = features ?? TaskFeatures.Body;
        ExpansionSeed = expansionSeed;
    }

    /// <summary>What the statistics are taken of; a state imported with an expansion brings its own.</summary>
    public TaskFeatures Features { get; private set; }

    /// <summary>Seed of the input expansion's weights.</summary>
    public long ExpansionSeed { get; private set; }

    /// <summary>The features the statistics are of, for <paramref name="inputs"/> [N, ...] whose body features are
    /// <paramref name="bodyFeatures"/>: those, or ReLU(x W / sqrt(in)) of the flattened inputs with W [in, M] drawn
    /// from N(0, 1) by <see cref="ExpansionSeed"/> (made once per input width and device).</summary>
    public Tensor StatisticsFeatures(Tensor inputs, Tensor bodyFeatures)
    {
        if (Features.ExpansionWidth == 0)
        {
            return bodyFeatures;
        }

        var flat = inputs.flatten(1).to(float32);
        return flat.matmul(Expansion(flat.shape[1], flat.device)).relu_();
    }

    private Tensor Expansion(long inputWidth, Device device)
    {
        lock (_gate)
        {
            if (_expansion is null || _expansion.shape[0] != inputWidth || _expansion.device.type != device.type || _expansion.device.index != device.index)
            {
                _expansion?.Dispose();
                using var generator = new Generator(unchecked((ulong)ExpansionSeed));
                using var drawn = randn(inputWidth, Features.ExpansionWidth, generator: generator);
                _expansion = drawn.div_(Math.Sqrt(inputWidth)).to(device).DetachFromDisposeScope();
            }

            return _expansion;
        }
    }

    /// <summary>The default λ for the body's features, which drift under BECAME (measured on split-fmnist: see the
    /// README's task-agnostic section; 0.01 helps GPM and hurts BECAME there).</summary>
    public const double DefaultShrinkage = 0.1;

    /// <summary>The default λ for the input expansion, which does not drift (split-fmnist: 85.6 % at 0.01, 84.6 % at 0.1).</summary>
    public const double DefaultExpansionShrinkage = 0.01;

    /// <summary>λ: as given, else the default for <see cref="Features"/>.</summary>
    public double Shrinkage => _shrinkage ?? (Features.ExpansionWidth > 0 ? DefaultExpansionShrinkage : DefaultShrinkage);

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
        // The product in float32 (4x faster than float64 for a wide expansion), summed in float64.
        var centred = (x - means.index_select(0, y)).to(float32);
        var scatter = centred.t().matmul(centred).to(float64);
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
            if (Features.ExpansionWidth > 0)
            {
                state[Prefix + "expansion"] = tensor(new long[] { Features.ExpansionWidth, ExpansionSeed }).DetachFromDisposeScope();
            }
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

        if (state.TryGetValue(Prefix + "expansion", out var expansion))
        {
            long[] values = expansion.dim() == 1 && expansion.shape[0] == 2 ? expansion.to(int64).data<long>().ToArray() : [];
            if (values.Length != 2 || values[0] != d || d > TaskFeatures.MaxExpansion)
            {
                throw new InvalidDataException($"{Prefix}expansion must be [width, seed] with the scatter's width {d}.");
            }

            Features = new TaskFeatures((int)d);
            ExpansionSeed = values[1];
        }
        else
        {
            Features = TaskFeatures.Body;
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
        _expansion?.Dispose();
        _expansion = null;
        Invalidate();
    }

    private void Invalidate()
    {
        _discriminant?.Dispose();
        _discriminant = null;
    }
}
