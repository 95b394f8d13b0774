using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Models;

/// <summary>
/// Adam-NSCL's PreAct ResNet-18 (the authors' NSCL-based <c>models/resnet.py</c>, <c>resnet18()</c>): conv3x3
/// <c>conv1</c> (stride 1, the input's channels), stages <c>stage1</c>..<c>stage4</c> of two <see cref="PreActBlock"/>s
/// with widths 64, 128, 256, 512 x the width multiplier, <c>bn_last</c> + ReLU, <c>adaptive_avg_pool2d(·, 1)</c>, and
/// one head per task with a bias (their <c>last</c> ModuleDict of <c>nn.Linear(bias=True)</c>, here <c>heads</c>).
/// Batch norm is PyTorch's default: batch statistics while training (moving the running ones, momentum 0.1), the
/// running statistics in evaluation, so one input at a time works; the running statistics are buffers of the state
/// (<c>running_mean</c>, <c>running_var</c>, <c>num_batches_tracked</c>).
/// </summary>
public sealed class PreActResNet18 : ResidualNetwork
{
    /// <summary>The first stage's width at multiplier 1.</summary>
    public const int BaseWidth = 64;

    private const string NormDescription = "running statistics (momentum 0.1) in evaluation, batch statistics in training, eps 1e-5";
    private readonly BiasFreeConv2d _conv1;
    private readonly RunningStatisticsNorm _lastNorm;

    /// <summary>Builds the body for <paramref name="inputShape"/> ([C, H, W] or [H, W]) with PyTorch's default
    /// initialisation, drawn from a generator of its own when <paramref name="seed"/> is given.</summary>
    public PreActResNet18(IReadOnlyList<long> inputShape, double widthMultiplier = 1.0, Device? device = null, long? seed = null)
        : base(nameof(PreActResNet18), Checked(inputShape, widthMultiplier, CheckShape(inputShape)), BaseWidth, widthMultiplier, headBias: true, device, seed)
    {
        _conv1 = ResidualConvs.Conv3x3(Draw, InputChannels, Widths[0], 1);
        register_module("conv1", _conv1);
        AddStages("stage", (inPlanes, planes, stride) => new PreActBlock(Draw, inPlanes, planes, stride, Device));
        _lastNorm = new RunningStatisticsNorm(Widths[3], Device);
        register_module("bn_last", _lastNorm);
        RegisterHeads();
    }

    public override int MinimumBatch => 1;

    protected override int FeatureWidth => Widths[3];

    public override NetworkArchitecture Architecture => new ResidualArchitecture(
        "preact-resnet18", InputShape, WidthMultiplier, Widths, BlocksPerStage, 1, NormDescription, HeadBias, HeadClasses.ToArray());

    /// <summary>Null when the shape is an image shape (any side: the pooling adapts), else why not.</summary>
    public static string? CheckShape(IReadOnlyList<long> inputShape) => ImageShapeProblem("preact-resnet18", inputShape);

    /// <summary>The pooled features after the last stage's batch norm and ReLU, for inputs [N, C*H*W] or
    /// [N, C, H, W]. The capture records every convolution's input and output in registration order.</summary>
    public override Tensor Features(Tensor input, ForwardCapture? capture = null)
    {
        var x = ThroughStages(_conv1.Apply(AsImages(input), capture), capture);
        return F.adaptive_avg_pool2d(F.relu(_lastNorm.forward(x)), [1, 1]).flatten(1);
    }
}
