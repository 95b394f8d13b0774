using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Models;

/// <summary>Draws a trainable weight of a shape with its fan-in (the network's own generator keeps the draw order).</summary>
internal delegate Tensor WeightDraw(long[] shape, long fanIn);

/// <summary>One residual block: its output for an input, recording each convolution's input and output in
/// registration order (conv1, conv2, then the shortcut's) when a capture is given.</summary>
internal interface IResidualBlock
{
    Tensor Forward(Tensor input, ForwardCapture? capture);
}

/// <summary>The convolutions residual networks use: 3x3 with padding 1 (<c>conv3x3</c>) and the 1x1 shortcut.</summary>
internal static class ResidualConvs
{
    public static BiasFreeConv2d Conv3x3(WeightDraw draw, int inPlanes, int outPlanes, int stride) =>
        new(draw([outPlanes, inPlanes, 3, 3], inPlanes * 9L), stride, padding: 1);

    public static BiasFreeConv2d Conv1x1(WeightDraw draw, int inPlanes, int outPlanes, int stride) =>
        new(draw([outPlanes, inPlanes, 1, 1], inPlanes), stride, padding: 0);

    /// <summary>Whether a block needs a projection shortcut: its stride or its width changes the map.</summary>
    public static bool NeedsShortcut(int inPlanes, int planes, int stride) => stride != 1 || inPlanes != planes;

    /// <summary>A stage of blocks registered as <c>0</c>, <c>1</c>, … (an <c>nn.Sequential</c>'s names).</summary>
    public static BlockStage Stage(IEnumerable<ExplicitModule> blocks)
    {
        var stage = new BlockStage();
        foreach (var block in blocks)
        {
            stage.Add(block);
        }

        return stage;
    }
}

/// <summary>A sequence of residual blocks named as an <c>nn.Sequential</c> names its items (<c>0</c>, <c>1</c>, …).</summary>
internal sealed class BlockStage : ExplicitModule
{
    private readonly List<IResidualBlock> _blocks = [];

    public BlockStage() : base(nameof(BlockStage))
    {
    }

    public void Add(ExplicitModule block)
    {
        register_module(_blocks.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), block);
        _blocks.Add((IResidualBlock)block);
    }

    public override Tensor forward(Tensor input) => Forward(input, null);

    public Tensor Forward(Tensor input, ForwardCapture? capture)
    {
        var x = input;
        foreach (var block in _blocks)
        {
            x = block.Forward(x, capture);
        }

        return x;
    }
}

/// <summary>A shortcut as an <c>nn.Sequential</c> of a 1x1 convolution (<c>0</c>) and, where given, its batch norm
/// (<c>1</c>).</summary>
internal sealed class ConvShortcut : ExplicitModule
{
    private readonly BiasFreeConv2d _conv;
    private readonly nn.Module<Tensor, Tensor>? _norm;

    public ConvShortcut(BiasFreeConv2d conv, nn.Module<Tensor, Tensor>? norm) : base(nameof(ConvShortcut))
    {
        _conv = conv;
        _norm = norm;
        register_module("0", conv);
        if (norm is not null)
        {
            register_module("1", norm);
        }
    }

    public override Tensor forward(Tensor input) => Forward(input, null);

    public Tensor Forward(Tensor input, ForwardCapture? capture)
    {
        var output = _conv.Apply(input, capture);
        return _norm is null ? output : _norm.forward(output);
    }
}

/// <summary>GPM's ResNet-18 block (the authors' <c>BasicBlock</c>): conv3x3 (stride s), batch norm, ReLU, conv3x3,
/// batch norm, plus the input or a 1x1 conv + batch norm shortcut, then ReLU. Batch norm uses batch statistics.</summary>
internal sealed class BasicBlock : ExplicitModule, IResidualBlock
{
    private readonly BiasFreeConv2d _conv1;
    private readonly BatchStatisticsNorm _bn1;
    private readonly BiasFreeConv2d _conv2;
    private readonly BatchStatisticsNorm _bn2;
    private readonly ConvShortcut? _shortcut;

    public BasicBlock(WeightDraw draw, int inPlanes, int planes, int stride, Device device) : base(nameof(BasicBlock))
    {
        _conv1 = ResidualConvs.Conv3x3(draw, inPlanes, planes, stride);
        _bn1 = new BatchStatisticsNorm(planes, device);
        _conv2 = ResidualConvs.Conv3x3(draw, planes, planes, 1);
        _bn2 = new BatchStatisticsNorm(planes, device);
        register_module("conv1", _conv1);
        register_module("bn1", _bn1);
        register_module("conv2", _conv2);
        register_module("bn2", _bn2);
        if (ResidualConvs.NeedsShortcut(inPlanes, planes, stride))
        {
            _shortcut = new ConvShortcut(ResidualConvs.Conv1x1(draw, inPlanes, planes, stride), new BatchStatisticsNorm(planes, device));
            register_module("shortcut", _shortcut);
        }
    }

    public override Tensor forward(Tensor input) => Forward(input, null);

    public Tensor Forward(Tensor input, ForwardCapture? capture)
    {
        var output = F.relu(_bn1.forward(_conv1.Apply(input, capture)));
        output = _bn2.forward(_conv2.Apply(output, capture));
        var shortcut = _shortcut is null ? input : _shortcut.Forward(input, capture);
        return F.relu(output.add_(shortcut));
    }
}

/// <summary>Adam-NSCL's pre-activation block (the authors' <c>PreActBlock</c>, no dropout): batch norm, ReLU,
/// conv3x3 (stride s), batch norm, ReLU, conv3x3, plus a shortcut: the first batch norm's output, or a 1x1 conv of
/// the first ReLU's output where the map changes. Batch norm keeps running statistics.</summary>
internal sealed class PreActBlock : ExplicitModule, IResidualBlock
{
    private readonly RunningStatisticsNorm _bn1;
    private readonly BiasFreeConv2d _conv1;
    private readonly RunningStatisticsNorm _bn2;
    private readonly BiasFreeConv2d _conv2;
    private readonly ConvShortcut? _shortcut;

    public PreActBlock(WeightDraw draw, int inPlanes, int planes, int stride, Device device) : base(nameof(PreActBlock))
    {
        _bn1 = new RunningStatisticsNorm(inPlanes, device);
        _conv1 = ResidualConvs.Conv3x3(draw, inPlanes, planes, stride);
        _bn2 = new RunningStatisticsNorm(planes, device);
        _conv2 = ResidualConvs.Conv3x3(draw, planes, planes, 1);
        register_module("bn1", _bn1);
        register_module("conv1", _conv1);
        register_module("bn2", _bn2);
        register_module("conv2", _conv2);
        if (ResidualConvs.NeedsShortcut(inPlanes, planes, stride))
        {
            _shortcut = new ConvShortcut(ResidualConvs.Conv1x1(draw, inPlanes, planes, stride), null);
            register_module("shortcut", _shortcut);
        }
    }

    public override Tensor forward(Tensor input) => Forward(input, null);

    public Tensor Forward(Tensor input, ForwardCapture? capture)
    {
        var normed = _bn1.forward(input);
        var activated = F.relu(normed);

        // The authors compute the shortcut first; it is computed last here so a capture records the convolutions in
        // registration order (conv1, conv2, shortcut), the order of the shared layers. The result is the same.
        var output = _conv2.Apply(F.relu(_bn2.forward(_conv1.Apply(activated, capture))), capture);
        var shortcut = _shortcut is null ? normed : _shortcut.Forward(activated, capture);

        // Not in place: a capture holds conv2's output.
        return output + shortcut;
    }
}
