using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Models;

/// <summary>A layer whose weight the feature memory protects (a linear map or a convolution): the module tree
/// yields these in forward order as the network's <see cref="SharedLayer"/>s.</summary>
public interface IProtectedLayer
{
    /// <summary>The weight: [out, in] for a linear layer, [out, in, k, k] for a convolution.</summary>
    Parameter Weight { get; }

    /// <summary>The convolution's geometry, or null for a linear layer.</summary>
    ConvKernel? Kernel { get; }

    /// <summary>The layer's output for <paramref name="input"/>; with a capture, records the input and the output.</summary>
    Tensor Apply(Tensor input, ForwardCapture? capture);
}

/// <summary>Base of the networks' own modules: components are registered explicitly, in order, by the constructor,
/// so TorchSharp's reflection over fields (which would add them again under field names) is switched off.</summary>
public abstract class ExplicitModule(string name) : nn.Module<Tensor, Tensor>(name)
{
    /// <summary>Nothing to do: the constructor registered every component under its state-dict name.</summary>
    protected override void RegisterComponents()
    {
    }
}

/// <summary>A bias-free linear layer (<c>nn.Linear(bias=False)</c>) over a weight drawn by the network, so the
/// network keeps its draw order; its parameter is named <c>weight</c>.</summary>
public sealed class BiasFreeLinear : ExplicitModule, IProtectedLayer
{
    /// <summary>Wraps <paramref name="weight"/> (a trainable leaf; the tensor object becomes empty, as TorchSharp's
    /// <see cref="Parameter"/> takes its handle).</summary>
    public BiasFreeLinear(Tensor weight) : base(nameof(BiasFreeLinear))
    {
        Weight = new Parameter(weight);
        register_parameter("weight", Weight);
    }

    public Parameter Weight { get; }

    public ConvKernel? Kernel => null;

    public override Tensor forward(Tensor input) => F.linear(input, Weight);

    public Tensor Apply(Tensor input, ForwardCapture? capture)
    {
        var output = F.linear(input, Weight);
        capture?.Record(input, output);
        return output;
    }
}

/// <summary>A bias-free valid convolution with a square kernel (<c>nn.Conv2d(bias=False)</c>); its parameter is
/// named <c>weight</c>.</summary>
public sealed class BiasFreeConv2d : ExplicitModule, IProtectedLayer
{
    /// <summary>Wraps <paramref name="weight"/> [out, in, k, k] (the tensor object becomes empty).</summary>
    public BiasFreeConv2d(Tensor weight) : base(nameof(BiasFreeConv2d))
    {
        Weight = new Parameter(weight);
        Kernel = new ConvKernel((int)Weight.shape[^1]);
        register_parameter("weight", Weight);
    }

    public Parameter Weight { get; }

    public ConvKernel? Kernel { get; }

    public override Tensor forward(Tensor input) => F.conv2d(input, Weight);

    public Tensor Apply(Tensor input, ForwardCapture? capture)
    {
        var output = F.conv2d(input, Weight);
        capture?.Record(input, output);
        return output;
    }
}

/// <summary>Batch norm that always normalises with the batch's own statistics and keeps none
/// (<c>track_running_stats=False</c>), with an affine <c>weight</c> (1) and <c>bias</c> (0).</summary>
public sealed class BatchStatisticsNorm : ExplicitModule
{
    /// <summary>The eps added to the variance.</summary>
    public const double Eps = 1e-5;

    public BatchStatisticsNorm(int features, Device device) : base(nameof(BatchStatisticsNorm))
    {
        using var noGrad = no_grad();
        Weight = new Parameter(ones(features, device: device).DetachFromDisposeScope());
        Bias = new Parameter(zeros(features, device: device).DetachFromDisposeScope());
        register_parameter("weight", Weight);
        register_parameter("bias", Bias);
    }

    public Parameter Weight { get; }

    public Parameter Bias { get; }

    public override Tensor forward(Tensor input) =>
        F.batch_norm(input, null, null, Weight, Bias, training: true, momentum: 0.1, eps: Eps);
}
