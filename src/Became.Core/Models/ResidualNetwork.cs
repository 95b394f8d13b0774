using static TorchSharp.torch;

namespace Became.Core.Models;

/// <summary>
/// What the two ResNet-18s share: an image input [channels, height, width] (or [height, width] for one channel),
/// a first 3x3 convolution <c>conv1</c>, four stages of two residual blocks with widths w, 2w, 4w, 8w (the second to
/// fourth starting with stride 2), and one head per task on the pooled features. Widths scale with the width
/// multiplier; parameter names are those of the authors' PyTorch modules (with <c>heads</c> for their heads).
/// </summary>
public abstract class ResidualNetwork : MultiHeadNetwork
{
    /// <summary>Blocks per stage (ResNet-18).</summary>
    public static IReadOnlyList<int> BlocksPerStage { get; } = [2, 2, 2, 2];

    private readonly long[] _inputShape;
    private readonly List<BlockStage> _stages = [];

    private protected ResidualNetwork(string name, IReadOnlyList<long> inputShape, int baseWidth, double widthMultiplier, bool headBias, Device? device, long? seed)
        : base(name, device, seed, headBias)
    {
        (InputChannels, InputHeight, InputWidth) = ImageShape(inputShape);
        _inputShape = inputShape.ToArray();
        WidthMultiplier = widthMultiplier;
        int first = Math.Max(1, (int)Math.Round(baseWidth * widthMultiplier));
        Widths = [first, 2 * first, 4 * first, 8 * first];
    }

    /// <summary>The input shape as given: [channels, height, width] or [height, width].</summary>
    public IReadOnlyList<long> InputShape => _inputShape;

    public int InputChannels { get; }

    public int InputHeight { get; }

    public int InputWidth { get; }

    public double WidthMultiplier { get; }

    /// <summary>Output channels of the four stages (conv1 has the first stage's).</summary>
    public IReadOnlyList<int> Widths { get; }

    public override NetworkCapabilities Capabilities => NetworkCapabilities.None;

    /// <summary>The reference's test batch: the statistics batch norm without running statistics evaluates with,
    /// and a batch the convolutions run faster in than in large ones.</summary>
    public override int EvaluationBatch => ReferenceProtocol.TestBatchSize;

    /// <summary>Always null: the learner projects the convolutions' gradients after backward.</summary>
    public override ILayerInputProjection? InputProjector
    {
        get => null;
        set
        {
            if (value is not null)
            {
                throw new NotSupportedException($"{GetType().Name} projects gradients after backward, not layer inputs.");
            }
        }
    }

    /// <summary>The [channels, height, width] an input shape stands for; throws when it is not an image shape.</summary>
    public static (int Channels, int Height, int Width) ImageShape(IReadOnlyList<long> inputShape)
    {
        if (inputShape.Count is not (2 or 3) || inputShape.Any(d => d < 1 || d > int.MaxValue))
        {
            throw new ArgumentException($"A residual network needs an image input shape [channels, height, width] or [height, width]; got [{string.Join(", ", inputShape)}].", nameof(inputShape));
        }

        return inputShape.Count == 3
            ? ((int)inputShape[0], (int)inputShape[1], (int)inputShape[2])
            : (1, (int)inputShape[0], (int)inputShape[1]);
    }

    /// <summary>Null when <paramref name="inputShape"/> is an image shape, else one line naming <paramref name="family"/>.</summary>
    private protected static string? ImageShapeProblem(string family, IReadOnlyList<long> inputShape) =>
        inputShape.Count is 2 or 3 && inputShape.All(d => d >= 1 && d <= int.MaxValue)
            ? null
            : $"{family} needs an image input shape [channels, height, width] or [height, width] (e.g. [3, 32, 32]); got [{string.Join(", ", inputShape)}].";

    /// <summary>The arguments, checked before the module's native half is made: a positive width multiplier and an
    /// input shape the network takes (<paramref name="shapeProblem"/> null).</summary>
    private protected static IReadOnlyList<long> Checked(IReadOnlyList<long> inputShape, double widthMultiplier, string? shapeProblem)
    {
        if (!(widthMultiplier > 0) || double.IsInfinity(widthMultiplier))
        {
            throw new ArgumentOutOfRangeException(nameof(widthMultiplier), widthMultiplier, "The width multiplier must be a positive number.");
        }

        return shapeProblem is null ? inputShape : throw new ArgumentException(shapeProblem, nameof(inputShape));
    }

    /// <summary>A side after a 3x3 convolution with padding 1 and <paramref name="stride"/>.</summary>
    public static int AfterConv3x3(int side, int stride) => ((side - 1) / stride) + 1;

    /// <summary>The map side after conv1 (stride <paramref name="firstStride"/>) and the four stages.</summary>
    public static int LastMapSide(int side, int firstStride)
    {
        int m = AfterConv3x3(side, firstStride);
        for (int stage = 1; stage < 4; stage++)
        {
            m = AfterConv3x3(m, 2);
        }

        return m;
    }

    /// <summary>Builds and registers the four stages as <paramref name="prefix"/>1..4 from conv1's width.</summary>
    private protected void AddStages(string prefix, Func<int, int, int, ExplicitModule> block)
    {
        int inPlanes = Widths[0];
        for (int stage = 0; stage < 4; stage++)
        {
            var blocks = new List<ExplicitModule>();
            for (int b = 0; b < BlocksPerStage[stage]; b++)
            {
                int stride = stage > 0 && b == 0 ? 2 : 1;
                blocks.Add(block(inPlanes, Widths[stage], stride));
                inPlanes = Widths[stage];
            }

            var built = ResidualConvs.Stage(blocks);
            register_module($"{prefix}{stage + 1}", built);
            _stages.Add(built);
        }
    }

    /// <summary>The input as a batch of images [N, C, H, W] (flat inputs reshaped).</summary>
    private protected Tensor AsImages(Tensor input) => input.reshape(input.shape[0], InputChannels, InputHeight, InputWidth);

    /// <summary>The four stages in order.</summary>
    private protected Tensor ThroughStages(Tensor x, ForwardCapture? capture)
    {
        foreach (var stage in _stages)
        {
            x = stage.Forward(x, capture);
        }

        return x;
    }

    /// <summary>A weight drawn from the network's generator (for the blocks).</summary>
    private protected WeightDraw Draw => NewWeight;
}
