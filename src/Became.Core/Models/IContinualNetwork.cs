using static TorchSharp.torch;

namespace Became.Core.Models;

/// <summary>A parameter with the name PyTorch would give it in a state dict (e.g. <c>shared.0.weight</c>).</summary>
public sealed record NamedParameter(string Name, Tensor Tensor);

/// <summary>The geometry of a convolution: square kernel, stride, zero padding (PyTorch's conv2d arguments).</summary>
/// <param name="Size">Kernel side k.</param>
/// <param name="Stride">Step between patches.</param>
/// <param name="Padding">Zero padding on each side.</param>
public sealed record ConvKernel(int Size, int Stride = 1, int Padding = 0);

/// <summary>A shared layer the feature memory protects: its weight (out x in, a conv kernel flattened to out x in*k*k).</summary>
/// <param name="Index">Position among the shared layers.</param>
/// <param name="Name">The weight's state-dict name.</param>
/// <param name="Weight">The weight parameter: [out, in] for a linear layer, [out, in, k, k] for a convolution.</param>
/// <param name="Kernel">The convolution's geometry, or null for a linear layer.</param>
public sealed record SharedLayer(int Index, string Name, Tensor Weight, ConvKernel? Kernel = null)
{
    /// <summary>Width of the layer's input space (the rows of its basis): in, or in*k*k for a convolution.</summary>
    public long InputDimension => Weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
}

/// <summary>What a forward pass recorded: each shared layer's input and pre-activation output, then the head's.</summary>
public sealed class ForwardCapture
{
    public List<Tensor> LayerInputs { get; } = [];

    public List<Tensor> LayerOutputs { get; } = [];

    /// <summary>Records one linear map's input and (pre-activation) output.</summary>
    public void Record(Tensor input, Tensor output)
    {
        LayerInputs.Add(input);
        LayerOutputs.Add(output);
    }

    public void Clear()
    {
        LayerInputs.Clear();
        LayerOutputs.Clear();
    }
}

/// <summary>A task-incremental network: a shared body (<see cref="Features"/>) and one output head per task. The
/// implementations are TorchSharp modules (<see cref="Module"/>): parameters, shared layers and captures come from
/// their module tree.</summary>
public interface IContinualNetwork : IDisposable
{
    /// <summary>The body's weights that gradient projection protects, in forward order.</summary>
    IReadOnlyList<SharedLayer> SharedLayers { get; }

    /// <summary>Every parameter in state-dict order: the body, then the heads.</summary>
    IReadOnlyList<NamedParameter> Parameters { get; }

    /// <summary>The module's buffers in state-dict order (batch norm's running statistics where it keeps them; empty
    /// otherwise): saved and loaded with the parameters, never trained, merged or weighed by the Fisher.</summary>
    IReadOnlyList<NamedParameter> Buffers { get; }

    /// <summary>Parameters of the shared body (everything but the heads).</summary>
    IReadOnlyList<NamedParameter> SharedParameters { get; }

    int HeadCount { get; }

    /// <summary>Where the parameters live; inputs must be on it too.</summary>
    Device Device { get; }

    /// <summary>Class count of each head.</summary>
    IReadOnlyList<int> HeadClasses { get; }

    /// <summary>What the network is, for its model file's <c>architecture</c> metadata (heads as of now).</summary>
    NetworkArchitecture Architecture { get; }

    /// <summary>Adds a head for a new task and returns its index.</summary>
    int AddHead(int classes);

    /// <summary>The parameters of one task's head.</summary>
    IReadOnlyList<NamedParameter> HeadParameters(int head);

    /// <summary>When set, shared layers route their inputs through it so their weight gradients come out
    /// projected (the learner's input-side projection); null for the plain forward pass.</summary>
    ILayerInputProjection? InputProjector { get; set; }

    /// <summary>Training mode: dropout is active. Batch norm (where present) always normalises with the batch's
    /// own statistics, as the reference does (no running statistics). False by default.</summary>
    bool Training { get; set; }

    /// <summary>Fewest samples a forward pass accepts: 2 where batch norm needs a batch's statistics, else 1.</summary>
    int MinimumBatch { get; }

    /// <summary>Samples per forward pass when evaluating a set: where batch norm uses the batch's statistics this is
    /// the batch they come from (the reference tests in batches of 64), and convolutions run faster on the CPU in
    /// small batches than in large ones (their unfolded inputs stay in cache).</summary>
    int EvaluationBatch { get; }

    /// <summary>What the learner may do with this network beyond autograd (its family's flags).</summary>
    NetworkCapabilities Capabilities { get; }

    /// <summary>When set, dropout masks are drawn from it (so a job repeats itself whatever else draws from the
    /// global generator); when null, dropout uses the global torch generator. The network does not own it.</summary>
    Generator? DropoutGenerator { get; set; }

    /// <summary>The network as a TorchSharp module: its <c>forward</c> gives every head's logits side by side, its
    /// <c>named_parameters</c> the state-dict names of <see cref="Parameters"/>.</summary>
    TorchSharp.torch.nn.Module<Tensor, Tensor> Module { get; }

    /// <summary>The shared body's output for <paramref name="input"/>, what every head reads. With a capture, records
    /// the input and pre-activation output of every shared layer, in order.</summary>
    Tensor Features(Tensor input, ForwardCapture? capture = null);

    /// <summary>Logits of <paramref name="head"/> on the body's <paramref name="features"/>; with a capture, records
    /// the head's input and logits.</summary>
    Tensor HeadLogits(Tensor features, int head, ForwardCapture? capture = null);

    /// <summary>Every head's logits from one body pass, in head order.</summary>
    IReadOnlyList<Tensor> ForwardAllHeads(Tensor input);

    /// <summary>Logits of the given head: <see cref="HeadLogits"/> of <see cref="Features"/>. With a capture, records
    /// the inputs and outputs of every linear map (shared layers, then the head), in that order.</summary>
    Tensor Forward(Tensor input, int head, ForwardCapture? capture = null);
}
