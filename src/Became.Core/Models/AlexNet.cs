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
/// <c>bn3.*</c>, <c>fc1.weight</c>, <c>bn4.*</c>, <c>fc2.weight</c>, <c>bn5.*</c>, <c>heads.{t}.weight</c>: the
/// module's own names, as it registers conv1, bn1, …, fc2, bn5 and then the heads.
/// </summary>
public sealed class AlexNet : MultiHeadNetwork
{
    private static readonly int[] BaseChannels = [64, 128, 256];
    private static readonly int[] KernelSizes = [4, 3, 2];
    private const int BaseHidden = 2048;
    private const string NormDescription = "batch statistics (no running statistics), eps 1e-5";

    // The reference drops 20% after the first two convolutions and 50% after the third and the linear layers.
    private static readonly double[] DropoutRates = [0.2, 0.2, 0.5, 0.5, 0.5];

    // conv1..3, fc1, fc2 and the batch norm after each, in forward order.
    private readonly List<IProtectedLayer> _layers = [];
    private readonly List<BatchStatisticsNorm> _norms = [];

    /// <summary>Creates the body for inputs of shape [channels, height, width] with PyTorch's default
    /// initialisation (weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)), batch norm 1 and 0), drawn from a generator of its
    /// own when <paramref name="seed"/> is given (body and later heads), else from the global one. Dropout masks
    /// come from <see cref="MultiHeadNetwork.DropoutGenerator"/> when set, else from the global generator.</summary>
    public AlexNet(int channels, int height, int width, double widthMultiplier = 1.0, Device? device = null, long? seed = null)
        : base(nameof(AlexNet), device, Checked(channels, height, width, widthMultiplier, seed))
    {
        InputChannels = channels;
        InputHeight = height;
        InputWidth = width;
        WidthMultiplier = widthMultiplier;
        Channels = BaseChannels.Select(Scale).ToArray();
        HiddenSize = Scale(BaseHidden);

        var maps = MapSizes(height, width);
        int inChannels = channels;
        for (int i = 0; i < KernelSizes.Length; i++)
        {
            int k = KernelSizes[i];
            Add($"conv{i + 1}", new BiasFreeConv2d(NewWeight([Channels[i], inChannels, k, k], inChannels * k * k)), i + 1, Channels[i]);
            inChannels = Channels[i];
        }

        FlatFeatures = inChannels * maps[^1].Height * maps[^1].Width;
        Add("fc1", new BiasFreeLinear(NewWeight([HiddenSize, FlatFeatures], FlatFeatures)), 4, HiddenSize);
        Add("fc2", new BiasFreeLinear(NewWeight([HiddenSize, HiddenSize], HiddenSize)), 5, HiddenSize);
        RegisterHeads();
    }

    // The arguments are checked before the module's native half is made; passes the seed through.
    private static long? Checked(int channels, int height, int width, double widthMultiplier, long? seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        if (!(widthMultiplier > 0) || double.IsInfinity(widthMultiplier))
        {
            throw new ArgumentOutOfRangeException(nameof(widthMultiplier), widthMultiplier, "The width multiplier must be a positive number.");
        }

        var maps = MapSizes(height, width);
        if (maps.Count <= KernelSizes.Length)
        {
            var (h, w) = maps[^1];
            int k = KernelSizes[maps.Count - 1];
            throw new ArgumentException($"A {height}x{width} input is too small for AlexNet: convolution {maps.Count} ({k}x{k}) sees {h}x{w} and must leave at least 2x2 to pool.");
        }

        return seed;
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

    public override NetworkArchitecture Architecture =>
        new AlexNetArchitecture(InputShape, WidthMultiplier, Channels, [.. KernelSizes], HiddenSize, NormDescription, HeadClasses.ToArray());

    public int InputHeight { get; }

    public int InputWidth { get; }

    public double WidthMultiplier { get; }

    /// <summary>Output channels of the three convolutions.</summary>
    public IReadOnlyList<int> Channels { get; }

    /// <summary>Width of fc1 and fc2.</summary>
    public int HiddenSize { get; }

    /// <summary>Inputs of fc1: the last convolution's channels times its pooled map.</summary>
    public int FlatFeatures { get; }

    public override int MinimumBatch => 2;

    /// <summary>The reference's test batch: the statistics its batch norm evaluates with (and convolutions run faster
    /// in it than in large batches).</summary>
    public override int EvaluationBatch => ReferenceProtocol.TestBatchSize;

    protected override int FeatureWidth => HiddenSize;

    /// <summary>None: batch norm couples a batch's samples and pooling sits between the weights, so gradients are
    /// projected after backward and the Fisher is the batch estimator.</summary>
    public override NetworkCapabilities Capabilities => NetworkCapabilities.None;

    /// <summary>Always null: input-side projection needs a linear stack; the learner projects gradients instead.</summary>
    public override ILayerInputProjection? InputProjector
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

    /// <summary>fc2's output after batch norm, ReLU and dropout, for inputs [N, C*H*W] or [N, C, H, W] (N at least 2).
    /// The capture records each convolution's 4-D input and pre-norm output, then each linear layer's.</summary>
    public override Tensor Features(Tensor input, ForwardCapture? capture = null)
    {
        if (input.shape[0] < MinimumBatch)
        {
            throw new ArgumentException($"AlexNet normalises with batch statistics and needs at least {MinimumBatch} samples per forward pass; got {input.shape[0]}.", nameof(input));
        }

        bool dropout = Training;
        var x = input.reshape(input.shape[0], InputChannels, InputHeight, InputWidth);
        for (int i = 0; i < _layers.Count; i++)
        {
            if (i == KernelSizes.Length)
            {
                x = x.flatten(1);
            }

            var layer = _layers[i];
            var normed = _norms[i].forward(layer.Apply(x, capture));
            x = Dropout(F.relu(normed), DropoutRates[i], dropout);
            if (layer.Kernel is not null)
            {
                x = F.max_pool2d(x, 2);
            }
        }

        return x;
    }

    private int Scale(int width) => Math.Max(1, (int)Math.Round(width * WidthMultiplier));

    private void Add(string name, ExplicitModule layer, int norm, int features)
    {
        var batchNorm = new BatchStatisticsNorm(features, Device);
        register_module(name, layer);
        register_module($"bn{norm}", batchNorm);
        _layers.Add((IProtectedLayer)layer);
        _norms.Add(batchNorm);
    }
}
