using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Models;

/// <summary>
/// The GPM/BECAME paper's multi-head AlexNet: three bias-free convolutions (4x4, 3x3, 2x2; 64, 128, 256
/// channels), each followed by batch norm, ReLU, dropout and 2x2 max-pooling, then two bias-free linear layers
/// of 2048 with batch norm, ReLU and dropout, and one bias-free linear head per task. Every width is scaled by
/// <see cref="WidthMultiplier"/>. Batch norm keeps no running statistics: it always normalises with the batch's
/// own, as the reference does (<c>track_running_stats=False</c>), so a forward pass needs at least 2 samples.
/// Parameters are named as the reference's PyTorch module names them, with <c>heads</c> for its <c>fc3</c>:
/// <c>conv1.weight</c>, <c>bn1.weight</c>, <c>bn1.bias</c>, <c>conv2.*</c>, <c>bn2.*</c>, <c>conv3.*</c>,
/// <c>bn3.*</c>, <c>fc1.weight</c>, <c>bn4.*</c>, <c>fc2.weight</c>, <c>bn5.*</c>, <c>heads.{t}.weight</c>.
/// </summary>
public sealed class AlexNet : IContinualNetwork
{
    private static readonly int[] BaseChannels = [64, 128, 256];
    private static readonly int[] KernelSizes = [4, 3, 2];
    private const int BaseHidden = 2048;
    private const double NormEps = 1e-5;
    private const string NormDescription = "batch statistics (no running statistics), eps 1e-5";

    // The reference drops 20% after the first two convolutions and 50% after the third and the linear layers.
    private static readonly double[] DropoutRates = [0.2, 0.2, 0.5, 0.5, 0.5];

    private readonly List<NamedParameter> _shared = [];
    private readonly List<NamedParameter> _heads = [];
    private readonly List<int> _headClasses = [];
    private readonly List<SharedLayer> _layers = [];
    private readonly List<(Tensor Weight, Tensor Bias)> _norms = [];
    private readonly Device _device;
    private readonly Generator? _generator;

    /// <summary>Creates the body for inputs of shape [channels, height, width] with PyTorch's default
    /// initialisation (weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)), batch norm 1 and 0), drawn from a generator of its
    /// own when <paramref name="seed"/> is given (body and later heads), else from the global one. Dropout masks
    /// always come from the global generator.</summary>
    public AlexNet(int channels, int height, int width, double widthMultiplier = 1.0, Device? device = null, long? seed = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        if (!(widthMultiplier > 0) || double.IsInfinity(widthMultiplier))
        {
            throw new ArgumentOutOfRangeException(nameof(widthMultiplier), widthMultiplier, "The width multiplier must be a positive number.");
        }

        Native.TorchRuntime.EnsureInitialized(nameof(AlexNet));
        _device = device ?? CPU;
        _generator = seed is long value ? new Generator(unchecked((ulong)value)) : null;
        InputChannels = channels;
        InputHeight = height;
        InputWidth = width;
        WidthMultiplier = widthMultiplier;
        Channels = BaseChannels.Select(Scale).ToArray();
        HiddenSize = Scale(BaseHidden);

        var maps = MapSizes(height, width);
        if (maps.Count <= KernelSizes.Length)
        {
            var (h, w) = maps[^1];
            int k = KernelSizes[maps.Count - 1];
            throw new ArgumentException($"A {height}x{width} input is too small for AlexNet: convolution {maps.Count} ({k}x{k}) sees {h}x{w} and must leave at least 2x2 to pool.");
        }

        int inChannels = channels;
        for (int i = 0; i < KernelSizes.Length; i++)
        {
            int k = KernelSizes[i];
            var weight = NewWeight([Channels[i], inChannels, k, k], inChannels * k * k);
            AddShared($"conv{i + 1}.weight", weight, new ConvKernel(k));
            AddNorm(i + 1, Channels[i]);
            inChannels = Channels[i];
        }

        FlatFeatures = inChannels * maps[^1].Height * maps[^1].Width;
        AddShared("fc1.weight", NewWeight([HiddenSize, FlatFeatures], FlatFeatures), null);
        AddNorm(4, HiddenSize);
        AddShared("fc2.weight", NewWeight([HiddenSize, HiddenSize], HiddenSize), null);
        AddNorm(5, HiddenSize);
    }

    /// <summary>Whether a height x width image survives the three convolutions and poolings (each convolution
    /// must leave at least 2 x 2 to pool).</summary>
    public static bool Fits(int height, int width) => MapSizes(height, width).Count == KernelSizes.Length + 1;

    // The map each convolution sees, then the last pooled one; it stops early at the first convolution that would
    // leave less than 2x2 to pool. Each stage: a valid convolution, then 2x2 max-pooling (floor), as
    // compute_conv_output_size in the reference.
    private static List<(int Height, int Width)> MapSizes(int height, int width)
    {
        var sizes = new List<(int Height, int Width)> { (height, width) };
        foreach (int k in KernelSizes)
        {
            var (h, w) = sizes[^1];
            if (h - k + 1 < 2 || w - k + 1 < 2)
            {
                break;
            }

            sizes.Add(((h - k + 1) / 2, (w - k + 1) / 2));
        }

        return sizes;
    }

    public int InputChannels { get; }

    /// <summary>The input shape as the builder gave it: [channels, height, width] (the default) or [height, width]
    /// for one channel. Only <see cref="Architecture"/> reads it.</summary>
    public IReadOnlyList<long> InputShape
    {
        get => _inputShape ?? [InputChannels, InputHeight, InputWidth];
        init => _inputShape = value.SequenceEqual([InputChannels, InputHeight, InputWidth]) || value.SequenceEqual([InputHeight, InputWidth]) && InputChannels == 1
            ? value.ToArray()
            : throw new ArgumentException($"Input shape [{string.Join(", ", value)}] is not [{InputChannels}, {InputHeight}, {InputWidth}].", nameof(value));
    }

    private readonly IReadOnlyList<long>? _inputShape;

    public NetworkArchitecture Architecture =>
        new AlexNetArchitecture(InputShape, WidthMultiplier, Channels, [.. KernelSizes], HiddenSize, NormDescription, _headClasses.ToArray());

    public int InputHeight { get; }

    public int InputWidth { get; }

    public double WidthMultiplier { get; }

    /// <summary>Output channels of the three convolutions.</summary>
    public IReadOnlyList<int> Channels { get; }

    /// <summary>Width of fc1 and fc2.</summary>
    public int HiddenSize { get; }

    /// <summary>Inputs of fc1: the last convolution's channels times its pooled map.</summary>
    public int FlatFeatures { get; }

    public IReadOnlyList<SharedLayer> SharedLayers => _layers;

    public IReadOnlyList<NamedParameter> Parameters => [.. _shared, .. _heads];

    public IReadOnlyList<NamedParameter> SharedParameters => _shared;

    public int HeadCount => _heads.Count;

    public Device Device => _device;

    public IReadOnlyList<int> HeadClasses => _headClasses;

    public bool Training { get; set; }

    public int MinimumBatch => 2;

    /// <summary>False: batch norm and pooling sit between the weights, so gradients are projected after backward.</summary>
    public bool IsLinearStack => false;

    /// <summary>Always null: input-side projection needs a linear stack; the learner projects gradients instead.</summary>
    public ILayerInputProjection? InputProjector
    {
        get => null;
        set
        {
            if (value is not null)
            {
                throw new NotSupportedException("AlexNet projects gradients after backward, not layer inputs.");
            }
        }
    }

    public int AddHead(int classes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        int index = _heads.Count;
        _heads.Add(new NamedParameter($"heads.{index}.weight", NewWeight([classes, HiddenSize], HiddenSize)));
        _headClasses.Add(classes);
        return index;
    }

    public IReadOnlyList<NamedParameter> HeadParameters(int head) => [_heads[head]];

    /// <summary>Logits of the head for inputs [N, C*H*W] or [N, C, H, W] (N at least 2). The capture records
    /// each convolution's 4-D input and pre-norm output, each linear layer's, then the head's.</summary>
    public Tensor Forward(Tensor input, int head, ForwardCapture? capture = null)
    {
        if ((uint)head >= (uint)_heads.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(head), head, $"The network has {_heads.Count} heads.");
        }

        if (input.shape[0] < MinimumBatch)
        {
            throw new ArgumentException($"AlexNet normalises with batch statistics and needs at least {MinimumBatch} samples per forward pass; got {input.shape[0]}.", nameof(input));
        }

        var x = input.reshape(input.shape[0], InputChannels, InputHeight, InputWidth);
        for (int i = 0; i < _layers.Count; i++)
        {
            if (i == KernelSizes.Length)
            {
                x = x.flatten(1);
            }

            var layer = _layers[i];
            var output = layer.Kernel is null ? F.linear(x, layer.Weight) : F.conv2d(x, layer.Weight);
            capture?.LayerInputs.Add(x);
            capture?.LayerOutputs.Add(output);
            var (gamma, beta) = _norms[i];
            var normed = F.batch_norm(output, null, null, gamma, beta, training: true, momentum: 0.1, eps: NormEps);
            x = F.dropout(F.relu(normed), DropoutRates[i], Training);
            if (layer.Kernel is not null)
            {
                x = F.max_pool2d(x, 2);
            }
        }

        var logits = F.linear(x, _heads[head].Tensor);
        capture?.LayerInputs.Add(x);
        capture?.LayerOutputs.Add(logits);
        return logits;
    }

    public void Dispose()
    {
        foreach (var p in _shared.Concat(_heads))
        {
            p.Tensor.Dispose();
        }

        _generator?.Dispose();
    }

    private int Scale(int width) => Math.Max(1, (int)Math.Round(width * WidthMultiplier));

    private void AddShared(string name, Tensor weight, ConvKernel? kernel)
    {
        _shared.Add(new NamedParameter(name, weight));
        _layers.Add(new SharedLayer(_layers.Count, name, weight, kernel));
    }

    private void AddNorm(int index, int features)
    {
        using var noGrad = no_grad();
        var gamma = ones(features, device: _device).requires_grad_(true).DetachFromDisposeScope();
        var beta = zeros(features, device: _device).requires_grad_(true).DetachFromDisposeScope();
        _shared.Add(new NamedParameter($"bn{index}.weight", gamma));
        _shared.Add(new NamedParameter($"bn{index}.bias", beta));
        _norms.Add((gamma, beta));
    }

    private Tensor NewWeight(long[] shape, long fanIn) => WeightInit.Uniform(shape, fanIn, _device, _generator);
}
