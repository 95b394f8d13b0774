using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Models;

/// <summary>
/// What every multi-head network shares: a body the subclass registers first, then a <c>heads</c> module list of
/// bias-free linear heads (<c>heads.{t}.weight</c>). Parameters, shared layers and their state-dict names are read
/// from the module tree (<c>named_parameters</c>, <c>named_modules</c>), and every weight is drawn in construction
/// order from the network's own generator (with a seed) or the global one.
/// </summary>
public abstract class MultiHeadNetwork : ExplicitModule, IContinualNetwork
{
    /// <summary>The heads' module name, the prefix of their state-dict names.</summary>
    public const string HeadsName = "heads";

    private readonly ModuleList<TaskHead> _heads = new();
    private readonly List<int> _headClasses = [];
    private readonly Generator? _generator;
    private IReadOnlyList<NamedParameter>? _namedParameters;
    private IReadOnlyList<NamedParameter>? _buffers;
    private IReadOnlyList<NamedParameter>? _shared;
    private IReadOnlyList<SharedLayer>? _layers;

    /// <summary>Loads libtorch (with a clear error when it is missing) before the module's native half exists. With
    /// <paramref name="headBias"/> every head is <c>nn.Linear(bias=True)</c>, else bias-free.</summary>
    protected MultiHeadNetwork(string name, Device? device, long? seed, bool headBias = false) : base(Initialized(name))
    {
        Device = device ?? CPU;
        HeadBias = headBias;
        _generator = seed is long value ? new Generator(unchecked((ulong)value)) : null;
    }

    /// <summary>Whether the heads carry a bias (<c>heads.{t}.bias</c>).</summary>
    public bool HeadBias { get; }

    public Device Device { get; }

    public nn.Module<Tensor, Tensor> Module => this;

    public abstract NetworkArchitecture Architecture { get; }

    public abstract NetworkCapabilities Capabilities { get; }

    public abstract int MinimumBatch { get; }

    /// <summary>Dense layers: one large GEMM per layer is fastest. Convolutional networks override it.</summary>
    public virtual int EvaluationBatch => 1000;

    public abstract ILayerInputProjection? InputProjector { get; set; }

    public Generator? DropoutGenerator { get; set; }

    public bool Training
    {
        get => training;
        set => train(value);
    }

    public int HeadCount => _heads.Count;

    public IReadOnlyList<int> HeadClasses => _headClasses;

    /// <summary>Width of the body's output, the heads' input.</summary>
    protected abstract int FeatureWidth { get; }

    public IReadOnlyList<NamedParameter> Parameters =>
        _namedParameters ??= named_parameters().Select(p => new NamedParameter(p.name, p.parameter)).ToArray();

    public IReadOnlyList<NamedParameter> Buffers =>
        _buffers ??= named_buffers().Select(b => new NamedParameter(b.name, b.buffer)).ToArray();

    public IReadOnlyList<NamedParameter> SharedParameters =>
        _shared ??= Parameters.Where(p => !p.Name.StartsWith(HeadsName + ".", StringComparison.Ordinal)).ToArray();

    /// <summary>The body's protected layers in registration (forward) order, named by their weight's state-dict name.</summary>
    public IReadOnlyList<SharedLayer> SharedLayers => _layers ??= named_modules()
        .Where(m => m.module is IProtectedLayer && !m.name.StartsWith(HeadsName + ".", StringComparison.Ordinal))
        .Select((m, i) => (m.name, Layer: (IProtectedLayer)m.module, Index: i))
        .Select(m => new SharedLayer(m.Index, m.name + ".weight", m.Layer.Weight, m.Layer.Kernel))
        .ToArray();

    public int AddHead(int classes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        int index = _heads.Count;
        var weight = NewWeight([classes, FeatureWidth], FeatureWidth);
        var head = new TaskHead(weight, HeadBias ? NewWeight([classes], FeatureWidth) : null);
        head.train(training);
        _heads.Add(head);

        // ModuleList registers its items once, when it is registered itself; later heads are registered here.
        _heads.register_module(index.ToString(System.Globalization.CultureInfo.InvariantCulture), head);
        _headClasses.Add(classes);
        _namedParameters = null;
        return index;
    }

    public IReadOnlyList<NamedParameter> HeadParameters(int head)
    {
        CheckHead(head);
        return _heads[head].named_parameters().Select(p => new NamedParameter($"{HeadsName}.{head}.{p.name}", p.parameter)).ToArray();
    }

    public abstract Tensor Features(Tensor input, ForwardCapture? capture = null);

    public Tensor HeadLogits(Tensor features, int head, ForwardCapture? capture = null)
    {
        CheckHead(head);
        return _heads[head].Apply(features, capture);
    }

    public virtual Tensor Forward(Tensor input, int head, ForwardCapture? capture = null)
    {
        CheckHead(head);
        return HeadLogits(Features(input, capture), head, capture);
    }

    public IReadOnlyList<Tensor> ForwardAllHeads(Tensor input)
    {
        var features = Features(input);
        return _heads.Select(h => h.forward(features)).ToArray();
    }

    /// <summary>Every head's logits side by side, [N, sum of the heads' classes], from one body pass.</summary>
    public override Tensor forward(Tensor input) => _heads.Count == 0
        ? throw new InvalidOperationException("The network has no heads yet.")
        : cat(ForwardAllHeads(input).ToArray(), 1);

    /// <summary>Registers the heads after the body, so state-dict order is the body's, then the heads'; ends
    /// construction in evaluation mode (a TorchSharp module starts in training mode, the network does not).</summary>
    protected void RegisterHeads()
    {
        register_module(HeadsName, _heads);
        train(false);
    }

    /// <summary>A trainable weight drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default.</summary>
    protected Tensor NewWeight(long[] shape, long fanIn) => WeightInit.Uniform(shape, fanIn, Device, _generator);

    /// <summary>Dropout in training mode: F.dropout with the global generator when no <see cref="DropoutGenerator"/>
    /// is set (what the bench relies on), else a Bernoulli mask from it, scaled by 1/(1-p).</summary>
    protected Tensor Dropout(Tensor input, double rate, bool training)
    {
        if (DropoutGenerator is not { } generator || !training || rate == 0)
        {
            return F.dropout(input, rate, training);
        }

        double keep = 1 - rate;
        Tensor mask;
        if (input.device.type == TorchSharp.DeviceType.CPU)
        {
            mask = empty_like(input).bernoulli_(keep, generator);
        }
        else
        {
            // The generator is a CPU one: draw on the host and move.
            using var host = empty(input.shape, dtype: input.dtype).bernoulli_(keep, generator);
            mask = host.to(input.device);
        }

        return input * mask.div_(keep);
    }

    /// <summary>The weight of one head (no range check: for hot paths that checked it already; the MLP's heads are
    /// bias-free).</summary>
    protected Parameter HeadWeight(int head) => _heads[head].Weight;

    protected void CheckHead(int head)
    {
        if ((uint)head >= (uint)_heads.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(head), head, $"The network has {_heads.Count} heads.");
        }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            _generator?.Dispose();
        }
    }

    private static string Initialized(string name)
    {
        Native.TorchRuntime.EnsureInitialized(name);
        return name;
    }
}
