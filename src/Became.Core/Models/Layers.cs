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

/// <summary>A bias-free convolution with a square kernel, a stride and zero padding
/// (<c>nn.Conv2d(bias=False, stride=s, padding=p)</c>); its parameter is named <c>weight</c>.</summary>
public sealed class BiasFreeConv2d : ExplicitModule, IProtectedLayer
{
    private readonly long[] _stride;
    private readonly long[] _padding;

    /// <summary>Wraps <paramref name="weight"/> [out, in, k, k] (the tensor object becomes empty); valid (unpadded),
    /// stride 1 unless told otherwise.</summary>
    public BiasFreeConv2d(Tensor weight, int stride = 1, int padding = 0) : base(nameof(BiasFreeConv2d))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        Weight = new Parameter(weight);
        Kernel = new ConvKernel((int)Weight.shape[^1], stride, padding);
        _stride = [stride, stride];
        _padding = [padding, padding];
        register_parameter("weight", Weight);
    }

    public Parameter Weight { get; }

    public ConvKernel? Kernel { get; }

    public override Tensor forward(Tensor input) => F.conv2d(input, Weight, strides: _stride, padding: _padding);

    public Tensor Apply(Tensor input, ForwardCapture? capture)
    {
        var output = forward(input);
        capture?.Record(input, output);
        return output;
    }
}

/// <summary>A task's output head: a linear map with or without a bias (<c>nn.Linear(bias=…)</c>); its parameters
/// are named <c>weight</c> and <c>bias</c>.</summary>
public sealed class TaskHead : ExplicitModule
{
    /// <summary>Wraps <paramref name="weight"/> [classes, features] and, when given, <paramref name="bias"/> [classes]
    /// (the tensor objects become empty).</summary>
    public TaskHead(Tensor weight, Tensor? bias) : base(nameof(TaskHead))
    {
        Weight = new Parameter(weight);
        register_parameter("weight", Weight);
        if (bias is not null)
        {
            Bias = new Parameter(bias);
            register_parameter("bias", Bias);
        }
    }

    public Parameter Weight { get; }

    /// <summary>The bias, or null for a bias-free head.</summary>
    public Parameter? Bias { get; }

    public override Tensor forward(Tensor input) => F.linear(input, Weight, Bias);

    /// <summary>The logits; with a capture, records the head's input and logits.</summary>
    public Tensor Apply(Tensor input, ForwardCapture? capture)
    {
        var output = forward(input);
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

/// <summary>PyTorch's default batch norm (<c>BatchNorm2d(features)</c>): batch statistics in training mode, which also
/// move the running ones (momentum 0.1), and the running statistics in evaluation mode, so a single input works.
/// Its state: <c>weight</c>, <c>bias</c> and the buffers <c>running_mean</c>, <c>running_var</c>,
/// <c>num_batches_tracked</c>, as PyTorch names them.</summary>
public sealed class RunningStatisticsNorm : ExplicitModule
{
    /// <summary>The weight of a new batch's statistics in the running ones.</summary>
    public const double Momentum = 0.1;

    public RunningStatisticsNorm(int features, Device device) : base(nameof(RunningStatisticsNorm))
    {
        using var noGrad = no_grad();
        Weight = new Parameter(ones(features, device: device).DetachFromDisposeScope());
        Bias = new Parameter(zeros(features, device: device).DetachFromDisposeScope());
        RunningMean = zeros(features, device: device).DetachFromDisposeScope();
        RunningVar = ones(features, device: device).DetachFromDisposeScope();
        BatchesTracked = zeros(1, dtype: ScalarType.Int64, device: device).squeeze().DetachFromDisposeScope();
        register_parameter("weight", Weight);
        register_parameter("bias", Bias);
        register_buffer("running_mean", RunningMean);
        register_buffer("running_var", RunningVar);
        register_buffer("num_batches_tracked", BatchesTracked);
    }

    public Parameter Weight { get; }

    public Parameter Bias { get; }

    public Tensor RunningMean { get; }

    public Tensor RunningVar { get; }

    /// <summary>Batches seen in training mode (PyTorch keeps it; with a fixed momentum nothing reads it).</summary>
    public Tensor BatchesTracked { get; }

    public override Tensor forward(Tensor input)
    {
        if (training)
        {
            using var noGrad = no_grad();
            BatchesTracked.add_(1);
        }

        return F.batch_norm(input, RunningMean, RunningVar, Weight, Bias, training, Momentum, BatchStatisticsNorm.Eps);
    }
}
