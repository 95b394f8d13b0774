using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Models;

/// <summary>
/// A bias-free multi-layer perceptron with ReLU and one linear head per task (the GPM/BECAME MLP).
/// Parameters are named as a PyTorch <c>nn.ModuleList</c> would name them: <c>shared.{i}.weight</c>
/// and <c>heads.{t}.weight</c>.
/// </summary>
public sealed class MultiHeadMlp : IContinualNetwork, IFusedSgdStep
{
    private readonly List<NamedParameter> _shared = [];
    private readonly List<NamedParameter> _heads = [];
    private readonly List<int> _headClasses = [];
    private readonly List<SharedLayer> _layers = [];
    private readonly Device _device;
    private readonly Generator? _generator;

    /// <summary>Creates the body with PyTorch's default Linear initialisation, U(-1/sqrt(in), 1/sqrt(in)), drawn
    /// from a generator of its own when <paramref name="seed"/> is given (body and every later head), else from the
    /// global torch generator (seed it with <c>torch.manual_seed</c>). libtorch seeds the global one differently in
    /// every process, and other threads may draw from it, so a service that must repeat itself passes a seed.</summary>
    public MultiHeadMlp(int inputSize, IReadOnlyList<int> hiddenSizes, Device? device = null, long? seed = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputSize, 1);
        if (hiddenSizes.Count == 0 || hiddenSizes.Any(h => h < 1))
        {
            throw new ArgumentException("An MLP needs at least one hidden layer of positive width.", nameof(hiddenSizes));
        }

        Native.TorchRuntime.EnsureInitialized(nameof(MultiHeadMlp));
        _device = device ?? CPU;
        _generator = seed is long value ? new Generator(unchecked((ulong)value)) : null;
        InputSize = inputSize;
        HiddenSizes = hiddenSizes.ToArray();
        int fanIn = inputSize;
        for (int i = 0; i < hiddenSizes.Count; i++)
        {
            var weight = NewWeight(hiddenSizes[i], fanIn);
            var named = new NamedParameter($"shared.{i}.weight", weight);
            _shared.Add(named);
            _layers.Add(new SharedLayer(i, named.Name, weight));
            fanIn = hiddenSizes[i];
        }
    }

    public int InputSize { get; }

    /// <summary>The input shape as the builder gave it (default [<see cref="InputSize"/>]); its product must be
    /// <see cref="InputSize"/>. Only <see cref="Architecture"/> reads it.</summary>
    public IReadOnlyList<long> InputShape
    {
        get => _inputShape ?? [InputSize];
        init => _inputShape = value.Aggregate(1L, (a, b) => a * b) == InputSize
            ? value.ToArray()
            : throw new ArgumentException($"Input shape [{string.Join(", ", value)}] does not have {InputSize} elements.", nameof(value));
    }

    private readonly IReadOnlyList<long>? _inputShape;

    public NetworkArchitecture Architecture => new MlpArchitecture(InputShape, HiddenSizes, _headClasses.ToArray());

    public IReadOnlyList<int> HiddenSizes { get; }

    public IReadOnlyList<SharedLayer> SharedLayers => _layers;

    public IReadOnlyList<NamedParameter> Parameters => [.. _shared, .. _heads];

    public IReadOnlyList<NamedParameter> SharedParameters => _shared;

    public int HeadCount => _heads.Count;

    public Device Device => _device;

    public ILayerInputProjection? InputProjector { get; set; }

    public bool IsLinearStack => true;

    /// <summary>Has no effect: the MLP has neither dropout nor batch norm.</summary>
    public bool Training { get; set; }

    public int MinimumBatch => 1;

    public IReadOnlyList<int> HeadClasses => _headClasses;

    public int AddHead(int classes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        int index = _heads.Count;
        _heads.Add(new NamedParameter($"heads.{index}.weight", NewWeight(classes, HiddenSizes[^1])));
        _headClasses.Add(classes);
        return index;
    }

    public IReadOnlyList<NamedParameter> HeadParameters(int head) => [_heads[head]];

    public Tensor Forward(Tensor input, int head, ForwardCapture? capture = null)
    {
        if ((uint)head >= (uint)_heads.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(head), head, $"The network has {_heads.Count} heads.");
        }

        var hidden = input;
        var projector = InputProjector;
        for (int i = 0; i < _shared.Count; i++)
        {
            var weight = _shared[i].Tensor;
            var output = projector is null ? F.linear(hidden, weight) : projector.Linear(i, hidden, weight);
            capture?.LayerInputs.Add(hidden);
            capture?.LayerOutputs.Add(output);
            hidden = F.relu(output);
        }

        var logits = F.linear(hidden, _heads[head].Tensor);
        capture?.LayerInputs.Add(hidden);
        capture?.LayerOutputs.Add(logits);
        return logits;
    }

    public bool CanFuse(IReadOnlyList<Tensor> trainable, int head) =>
        (uint)head < (uint)_heads.Count
        && trainable.Count == _shared.Count + 1
        && _shared.All(p => trainable.Any(t => ReferenceEquals(t, p.Tensor)))
        && trainable.Any(t => ReferenceEquals(t, _heads[head].Tensor));

    /// <summary>
    /// The step autograd would take, written out: with h_0 = x, h_l = relu(h_{l-1} W_lᵀ) and logits z = h_L Hᵀ, the
    /// mean cross-entropy's gradient is Δ_z = (softmax(z) − onehot(y)) / b; each weight's gradient is Δᵀ times its
    /// (projected) input, and Δ passes down as (Δ W) masked by h &gt; 0. Each Δ is passed down before its weight
    /// changes, and the update is one addmm: W ← W − lr Δᵀ x. Same maths as autograd, about a third of the ops.
    /// </summary>
    public void SgdStep(Tensor inputs, Tensor? projectedInputs, Tensor labels, int head, double learningRate, Tensor lossTotal)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int layers = _shared.Count;
        long batch = inputs.shape[0];
        var layerInputs = new Tensor[layers];
        var hidden = inputs;
        for (int i = 0; i < layers; i++)
        {
            layerInputs[i] = hidden;
            hidden = hidden.mm(_shared[i].Tensor.t()).relu_();
        }

        var headWeight = _heads[head].Tensor;
        var logProbabilities = hidden.mm(headWeight.t()).log_softmax(1);
        lossTotal.add_(F.nll_loss(logProbabilities, labels), alpha: batch);

        // d(mean CE)/dz = (softmax - onehot) / b.
        var delta = logProbabilities.exp_();
        delta.scatter_add_(1, labels.unsqueeze(1), full(batch, 1, -1f, dtype: delta.dtype, device: delta.device));
        delta.div_(batch);
        float alpha = (float)-learningRate;
        var down = delta.mm(headWeight);
        headWeight.addmm_(delta.t(), hidden, beta: 1, alpha: alpha);
        for (int i = layers - 1; i >= 0; i--)
        {
            // Layer i's output was relu'd into layerInputs[i + 1] (or hidden for the last layer).
            var output = i == layers - 1 ? hidden : layerInputs[i + 1];
            delta = down.masked_fill_(output.le(0), 0);
            down = i > 0 ? delta.mm(_shared[i].Tensor) : null!;
            var x = (i == 0 ? projectedInputs : null) ?? InputProjector?.ProjectInput(i, layerInputs[i]) ?? layerInputs[i];
            _shared[i].Tensor.addmm_(delta.t(), x, beta: 1, alpha: alpha);
        }
    }

    public void Dispose()
    {
        foreach (var p in _shared.Concat(_heads))
        {
            p.Tensor.Dispose();
        }

        _generator?.Dispose();
    }

    private Tensor NewWeight(long outputs, long inputs) => WeightInit.Uniform([outputs, inputs], inputs, _device, _generator);
}
