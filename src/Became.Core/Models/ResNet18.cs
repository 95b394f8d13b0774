using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Models;

/// <summary>
/// GPM's reduced ResNet-18 (the authors' GPM-based <c>model.py</c>, <c>ResNet18(taskcla, nf=20)</c>): conv3x3
/// <c>conv1</c> + batch norm <c>bn1</c> + ReLU, stages <c>layer1</c>..<c>layer4</c> of two <see cref="BasicBlock"/>s
/// with widths nf, 2nf, 4nf, 8nf (nf = 20 x the width multiplier), every convolution bias-free, batch norm with batch
/// statistics only (<c>track_running_stats=False</c>, affine), <c>avg_pool2d(·, 2)</c>, flattened, and one bias-free
/// head per task. conv1 has stride 1 for inputs up to 32 x 32 and 2 for larger ones: the authors' file is fixed to
/// 84 x 84 and stride 2 (their 32 x 32 ResNet-18 in GPM's original code has stride 1), and its conv1 takes 3 channels;
/// here conv1 takes the input's channels and the heads' width follows the pooled map (8nf x 3 x 3 at 84 x 84, as
/// theirs). Names: <c>conv1.weight</c>, <c>bn1.*</c>, <c>layer{s}.{b}.conv1.weight</c>, <c>.bn1.*</c>,
/// <c>.conv2.weight</c>, <c>.bn2.*</c>, <c>layer{s}.0.shortcut.0.weight</c>, <c>.shortcut.1.*</c>,
/// <c>heads.{t}.weight</c>.
/// </summary>
public sealed class ResNet18 : ResidualNetwork
{
    /// <summary>nf of the authors' call (the first stage's width at multiplier 1).</summary>
    public const int BaseWidth = 20;

    /// <summary>The largest side conv1 keeps at stride 1.</summary>
    public const int StrideOneUpTo = 32;

    private const string NormDescription = "batch statistics (no running statistics), eps 1e-5";
    private readonly BiasFreeConv2d _conv1;
    private readonly BatchStatisticsNorm _bn1;

    /// <summary>Builds the body for <paramref name="inputShape"/> ([C, H, W] or [H, W]) with PyTorch's default
    /// initialisation, drawn from a generator of its own when <paramref name="seed"/> is given.</summary>
    public ResNet18(IReadOnlyList<long> inputShape, double widthMultiplier = 1.0, Device? device = null, long? seed = null)
        : base(nameof(ResNet18), Checked(inputShape, widthMultiplier, CheckShape(inputShape)), BaseWidth, widthMultiplier, headBias: false, device, seed)
    {
        FirstStride = FirstStrideFor(InputHeight, InputWidth);
        _conv1 = ResidualConvs.Conv3x3(Draw, InputChannels, Widths[0], FirstStride);
        _bn1 = new BatchStatisticsNorm(Widths[0], Device);
        register_module("conv1", _conv1);
        register_module("bn1", _bn1);
        AddStages("layer", (inPlanes, planes, stride) => new BasicBlock(Draw, inPlanes, planes, stride, Device));
        PooledHeight = LastMapSide(InputHeight, FirstStride) / 2;
        PooledWidth = LastMapSide(InputWidth, FirstStride) / 2;
        RegisterHeads();
    }

    /// <summary>conv1's stride: 1 up to 32 x 32, 2 beyond.</summary>
    public int FirstStride { get; }

    /// <summary>The pooled map the heads read (its area times 8nf is their width).</summary>
    public int PooledHeight { get; }

    public int PooledWidth { get; }

    public override int MinimumBatch => 2;

    protected override int FeatureWidth => Widths[3] * PooledHeight * PooledWidth;

    public override NetworkArchitecture Architecture => new ResidualArchitecture(
        "resnet18", InputShape, WidthMultiplier, Widths, BlocksPerStage, FirstStride, NormDescription, HeadBias, HeadClasses.ToArray());

    /// <summary>conv1's stride for an input of <paramref name="height"/> x <paramref name="width"/>.</summary>
    public static int FirstStrideFor(int height, int width) => Math.Max(height, width) <= StrideOneUpTo ? 1 : 2;

    /// <summary>Null when an input of this shape reaches the pooling with at least 2 x 2 left, else why not.</summary>
    public static string? CheckShape(IReadOnlyList<long> inputShape)
    {
        if (ImageShapeProblem("resnet18", inputShape) is { } problem)
        {
            return problem;
        }

        var (_, h, w) = ImageShape(inputShape);
        int stride = FirstStrideFor(h, w);
        return LastMapSide(h, stride) >= 2 && LastMapSide(w, stride) >= 2
            ? null
            : $"A {h}x{w} input is too small for resnet18: its last stage would see less than 2 x 2 to pool (at least 9 x 9).";
    }

    /// <summary>The flattened pooled map after the last stage, for inputs [N, C*H*W] or [N, C, H, W] (N at least 2).
    /// The capture records every convolution's input and output in registration order.</summary>
    public override Tensor Features(Tensor input, ForwardCapture? capture = null)
    {
        if (input.shape[0] < MinimumBatch)
        {
            throw new ArgumentException($"resnet18 normalises with batch statistics and needs at least {MinimumBatch} samples per forward pass; got {input.shape[0]}.", nameof(input));
        }

        var x = F.relu(_bn1.forward(_conv1.Apply(AsImages(input), capture)));
        return F.avg_pool2d(ThroughStages(x, capture), 2).flatten(1);
    }
}
