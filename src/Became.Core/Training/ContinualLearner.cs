using System.Diagnostics;
using Became.Core.Data;
using Became.Core.Merging;
using Became.Core.Models;
using Became.Core.Projection;
using static TorchSharp.torch;

namespace Became.Core.Training;

/// <summary>What learning one task did.</summary>
/// <param name="TaskIndex">Position of the task in the learner's history (0-based).</param>
/// <param name="Head">The head the task was given.</param>
/// <param name="MergeCoefficient">a of the merge, or null when there was none (task 0, or a method without stage 2).</param>
/// <param name="MemoryRanks">Basis rank of each shared layer after the task (empty without memory).</param>
/// <param name="Stage1">The stable (or only) stage.</param>
/// <param name="Stage2">The plastic stage, if any.</param>
/// <param name="Seconds">Wall-clock seconds for the whole task.</param>
public sealed record TaskOutcome(int TaskIndex, int Head, double? MergeCoefficient, int[] MemoryRanks, StageResult Stage1, StageResult? Stage2, double Seconds);

/// <summary>
/// Learns tasks one after another with a <see cref="ContinualMethod"/>: stage 1 with gradient projection,
/// optionally a plastic stage 2 merged back by a Fisher-weighted or fixed coefficient, then the Fisher and
/// the feature memory are brought up to date. The steps attach at fixed points of one loop.
/// </summary>
public sealed class ContinualLearner : IDisposable
{
    private readonly LearnerOptions _options;
    private readonly StageTrainer _trainer;
    private readonly Generator _generator;

    public ContinualLearner(IContinualNetwork network, LearnerOptions options, long seed)
    {
        Network = network;
        _options = options;
        _trainer = new StageTrainer(options.Training);
        Memory = new GradientProjectionMemory(network.SharedLayers.Select(l => l.InputDimension).ToList(), options.Memory);
        Fisher = new FisherMemory(options.Gamma);
        _generator = new Generator((ulong)seed);
    }

    public IContinualNetwork Network { get; }

    public LearnerOptions Options => _options;

    public GradientProjectionMemory Memory { get; }

    public FisherMemory Fisher { get; }

    /// <summary>Wall-clock seconds per phase over every task learned so far.</summary>
    public PhaseClock Phases { get; } = new();

    /// <summary>Tasks learned so far (the index the next task gets).</summary>
    public int TasksLearned { get; set; }

    /// <summary>Learns one task on a new head and returns what happened.</summary>
    public TaskOutcome Learn(ContinualTask task, IProgress<EpochProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var method = _options.Method;
        int t = TasksLearned;
        int head = Network.AddHead(task.Classes);
        var shared = Network.SharedParameters;
        var headParameters = Network.HeadParameters(head);

        // Stage 1 (stable). After task 0 the shared 1-D parameters (biases, norms) have no protected subspace: freeze them.
        var stableTrainable = (t == 0 ? shared : shared.Where(p => p.Tensor.dim() > 1)).Concat(headParameters).ToList();
        using var projector = method.ProjectGradients && !Memory.IsEmpty ? new GradientProjector(Network.SharedLayers, Memory) : null;
        bool onInputs = projector is not null && _options.ProjectionSite == ProjectionSite.Inputs && Network.Capabilities.HasFlag(NetworkCapabilities.InputProjection);
        StageResult stage1;
        try
        {
            Network.InputProjector = onInputs ? projector : null;
            Action? afterBackward = projector is null || onInputs ? null : projector.ProjectGradients;
            stage1 = Phases.Time("stage1", () => _trainer.Train(Network, task, head, stableTrainable, afterBackward, keepBest: true, _generator, 1, progress, cancellationToken));
        }
        finally
        {
            Network.InputProjector = null;
        }

        StageResult? stage2 = null;
        double? coefficient = null;
        if (method.HasPlasticStage && t > 0)
        {
            var all = shared.Concat(headParameters).ToList();
            using var stable = ParameterSnapshot.Take(all);
            stage2 = Phases.Time("stage2", () => _trainer.Train(Network, task, head, all, null, keepBest: false, _generator, 2, progress, cancellationToken));
            using var plastic = ParameterSnapshot.Take(all);

            // A plastic stage that diverged has nothing to offer: keep the stable weights (a = 0).
            coefficient = stage2.Diverged ? 0
                : method.Merge == MergeKind.Adaptive ? Phases.Time("merge", () => AdaptiveCoefficient(task, head, stable, plastic))
                : AdaptiveMerge.Fixed(t);
            Apply(all, AdaptiveMerge.Interpolate(stable.Values, plastic.Values, coefficient.Value));
        }

        cancellationToken.ThrowIfCancellationRequested();
        int[] ranks = [];
        bool fisher = method.Merge == MergeKind.Adaptive;
        if (fisher && method.KeepsMemory && Network.Capabilities.HasFlag(NetworkCapabilities.ParallelFisherAndMemory))
        {
            // F(theta) and the memory's representations only read theta: on two threads at once.
            using var timing = Phases.Start("fisher+memory");
            var (taskFisher, newRanks) = TwoThreads.Run(
                () => DiagonalFisher.Compute(Network, head, task.Train, _options.Fisher),
                () => UpdateMemory(task, head, t),
                TwoThreads.DisposeFisher);
            Fisher.Accumulate(taskFisher);
            ranks = newRanks;
        }
        else
        {
            if (fisher)
            {
                Fisher.Accumulate(Phases.Time("fisher", () => TwoThreads.Fisher(Network, head, task.Train, _options.Fisher)));
            }

            if (method.KeepsMemory)
            {
                ranks = Phases.Time("memory", () => UpdateMemory(task, head, t));
            }
        }

        TasksLearned++;
        return new TaskOutcome(t, head, coefficient, ranks, stage1, stage2, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Each shared layer's representation matrix from a random sample of the data (in x n for a linear
    /// layer, in*k*k x n*positions for a convolution: <see cref="ConvRepresentation"/>); layer l uses the first
    /// <see cref="GpmOptions.SamplesFor"/> samples of one draw, as the reference does.</summary>
    public IReadOnlyList<Tensor> Representations(LabelledSet data, int head)
    {
        using var noGrad = no_grad();
        var layers = Network.SharedLayers;
        int n = Math.Min(_options.Memory.MaxSamples(layers.Count), data.Count);
        using var order = randperm(data.Count, generator: _generator);
        using var pick = order.narrow(0, 0, n).to(data.Inputs.device);
        using var inputs = data.Inputs.index_select(0, pick);
        var capture = new ForwardCapture();
        using var logits = Network.Forward(inputs, head, capture);
        return layers
            .Select(layer => ConvRepresentation.Of(layer, capture.LayerInputs[layer.Index].narrow(0, 0, Math.Min(_options.Memory.SamplesFor(layer.Index), n))))
            .ToList();
    }

    private int[] UpdateMemory(ContinualTask task, int head, int t)
    {
        using var scope = NewDisposeScope();
        return Memory.Update(Representations(task.Train, head), t);
    }

    public void Dispose()
    {
        Memory.Dispose();
        Fisher.Dispose();
        _generator.Dispose();
    }

    private double AdaptiveCoefficient(ContinualTask task, int head, ParameterSnapshot stable, ParameterSnapshot plastic)
    {
        // The network holds the plastic weights here: F_t is the Fisher at theta_p.
        var taskFisher = TwoThreads.Fisher(Network, head, task.Train, _options.Fisher);
        try
        {
            return AdaptiveMerge.Coefficient(stable.Values, plastic.Values, taskFisher, Fisher.Values);
        }
        finally
        {
            foreach (var f in taskFisher.Values)
            {
                f.Dispose();
            }
        }
    }

    private static void Apply(IReadOnlyList<NamedParameter> parameters, Dictionary<string, Tensor> values)
    {
        using var noGrad = no_grad();
        foreach (var p in parameters)
        {
            p.Tensor.copy_(values[p.Name]);
        }

        foreach (var v in values.Values)
        {
            v.Dispose();
        }
    }
}
