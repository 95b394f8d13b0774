using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Models;

/// <summary>
/// A bias-free multi-layer perceptron with ReLU and one linear head per task (the GPM/BECAME MLP), as a TorchSharp
/// module: a <c>shared</c> module list of bias-free linear layers, then <see cref="MultiHeadNetwork"/>'s heads, so
/// parameters are named as PyTorch's <c>nn.ModuleList</c> names them: <c>shared.{i}.weight</c>, <c>heads.{t}.weight</c>.
/// </summary>
public sealed class MultiHeadMlp : MultiHeadNetwork, IFusedSgdStep
{
    /// <summary>What an MLP's forward pass allows: it is a stack of linear maps on captured inputs, with no batch
    /// coupling and no state.</summary>
    public const NetworkCapabilities LinearStack = NetworkCapabilities.InputProjection | NetworkCapabilities.ExactFisher
        | NetworkCapabilities.ParallelFisherAndMemory | NetworkCapabilities.ConcurrentForward;

    private readonly ModuleList<BiasFreeLinear> _shared = new();

    /// <summary>Creates the body with PyTorch's default Linear initialisation, U(-1/sqrt(in), 1/sqrt(in)), drawn
    /// from a generator of its own when <paramref name="seed"/> is given (body and every later head), else from the
    /// global torch generator (seed it with <c>torch.manual_seed</c>). libtorch seeds the global one differently in
    /// every process, and other threads may draw from it, so a service that must repeat itself passes a seed.</summary>
    public MultiHeadMlp(int inputSize, IReadOnlyList<int> hiddenSizes, Device? device = null, long? seed = null)
        : base(nameof(MultiHeadMlp), device, Checked(inputSize, hiddenSizes, seed))
    {
        InputSize = inputSize;
        HiddenSizes = hiddenSizes.ToArray();
        int fanIn = inputSize;
        foreach (int width in HiddenSizes)
        {
            _shared.Add(new BiasFreeLinear(NewWeight([width, fanIn], fanIn)));
            fanIn = width;
        }

        register_module("shared", _shared);
        RegisterHeads();
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

    public override NetworkArchitecture Architecture => new MlpArchitecture(InputShape, HiddenSizes, HeadClasses.ToArray());

    public IReadOnlyList<int> HiddenSizes { get; }

    public override ILayerInputProjection? InputProjector { get; set; }

    public override NetworkCapabilities Capabilities => LinearStack;

    public override int MinimumBatch => 1;

    protected override int FeatureWidth => HiddenSizes[^1];

    /// <summary>relu(... relu(x W_1ᵀ) ... W_Lᵀ); each layer through <see cref="InputProjector"/> when one is set.</summary>
    public override Tensor Features(Tensor input, ForwardCapture? capture = null)
    {
        var hidden = input;
        var projector = InputProjector;
        for (int i = 0; i < _shared.Count; i++)
        {
            var layer = _shared[i];
            Tensor output;
            if (projector is null)
            {
                output = layer.Apply(hidden, capture);
            }
            else
            {
                output = projector.Linear(i, hidden, layer.Weight);
                capture?.Record(hidden, output);
            }

            hidden = F.relu(output);
        }

        return hidden;
    }

    public bool CanFuse(IReadOnlyList<Tensor> trainable, int head) =>
        (uint)head < (uint)HeadCount
        && trainable.Count == _shared.Count + 1
        && _shared.All(l => trainable.Any(t => ReferenceEquals(t, l.Weight)))
        && trainable.Any(t => ReferenceEquals(t, HeadWeight(head)));

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
            hidden = hidden.mm(_shared[i].Weight.t()).relu_();
        }

        var headWeight = HeadWeight(head);
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
            down = i > 0 ? delta.mm(_shared[i].Weight) : null!;
            var x = (i == 0 ? projectedInputs : null) ?? InputProjector?.ProjectInput(i, layerInputs[i]) ?? layerInputs[i];
            _shared[i].Weight.addmm_(delta.t(), x, beta: 1, alpha: alpha);
        }
    }

    // The arguments are checked before the module's native half is made; passes the seed through.
    private static long? Checked(int inputSize, IReadOnlyList<int> hiddenSizes, long? seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputSize, 1);
        return hiddenSizes.Count == 0 || hiddenSizes.Any(h => h < 1)
            ? throw new ArgumentException("An MLP needs at least one hidden layer of positive width.", nameof(hiddenSizes))
            : seed;
    }
}
