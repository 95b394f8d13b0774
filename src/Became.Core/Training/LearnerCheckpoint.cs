using Became.Core.Models;
using static TorchSharp.torch;

namespace Became.Core.Training;

/// <summary>
/// Everything a learner needs to continue after a restart, as named tensors: the network's parameters
/// and buffers (<c>model.*</c>, PyTorch names), each layer's memory basis (<c>memory.{l}</c>) and, with SGP, its importances
/// (<c>importance.{l}</c>), the accumulated Fisher (<c>fisher.*</c>) and the class statistics for answers without a task id
/// (<c>classes.*</c>, <see cref="TaskAgnostic.ClassFeatureMemory"/>; absent in states saved before they existed). Head class counts travel beside it (they shape the network).
/// </summary>
public static class LearnerCheckpoint
{
    public const string ModelPrefix = "model.";
    public const string MemoryPrefix = "memory.";
    public const string FisherPrefix = "fisher.";
    public const string ImportancePrefix = "importance.";

    /// <summary>Copies of the learner's state (CPU tensors the caller disposes).</summary>
    public static Dictionary<string, Tensor> Export(ContinualLearner learner)
    {
        using var noGrad = no_grad();
        var state = new Dictionary<string, Tensor>();
        foreach (var p in learner.Network.Parameters.Concat(learner.Network.Buffers))
        {
            state[ModelPrefix + p.Name] = Copy(p.Tensor);
        }

        for (int layer = 0; layer < learner.Memory.LayerCount; layer++)
        {
            if (learner.Memory.Basis(layer) is { } basis)
            {
                state[MemoryPrefix + layer] = Copy(basis);
            }

            if (learner.Memory.Importance(layer) is { } importance)
            {
                state[ImportancePrefix + layer] = Copy(importance);
            }
        }

        foreach (var (name, value) in learner.Fisher.Values)
        {
            state[FisherPrefix + name] = Copy(value);
        }

        foreach (var (name, value) in learner.ClassStatistics.Export())
        {
            state[name] = value;
        }

        return state;
    }

    /// <summary>Loads exported state into a learner whose network is fresh (no heads yet): adds the heads,
    /// copies parameters, memory and Fisher, and sets the task count. Throws when a tensor is missing or misshapen.</summary>
    public static void Import(ContinualLearner learner, IReadOnlyList<int> headClasses, IReadOnlyDictionary<string, Tensor> state)
    {
        var network = learner.Network;
        ImportNetwork(network, headClasses, name => state.TryGetValue(ModelPrefix + name, out var value) ? value : null, ModelPrefix);

        // Memory and Fisher meet the network's tensors in every step: they live on its device.
        var device = network.Device;
        for (int layer = 0; layer < learner.Memory.LayerCount; layer++)
        {
            if (state.TryGetValue(MemoryPrefix + layer, out var basis))
            {
                using var placed = basis.to(device);
                learner.Memory.SetBasis(layer, placed);
            }
            else
            {
                learner.Memory.SetBasis(layer, null);
            }
            if (state.TryGetValue(ImportancePrefix + layer, out var importance))
            {
                using var placed = importance.to(device);
                learner.Memory.SetImportance(layer, placed);
            }
            else
            {
                learner.Memory.SetImportance(layer, null);
            }
        }

        learner.Fisher.Load(state
            .Where(kv => kv.Key.StartsWith(FisherPrefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[FisherPrefix.Length..], kv => kv.Value.detach().to(device).clone().DetachFromDisposeScope()));
        learner.ClassStatistics.Import(state);
        learner.TasksLearned = headClasses.Count;
    }

    /// <summary>Loads a network's parameters (a model file's state dict, no learner state) into a fresh network: adds
    /// the heads and copies every parameter; throws naming the first tensor missing or misshapen.</summary>
    public static void ImportNetwork(IContinualNetwork network, IReadOnlyList<int> headClasses, IReadOnlyDictionary<string, Tensor> parameters) =>
        ImportNetwork(network, headClasses, name => parameters.TryGetValue(name, out var value) ? value : null, string.Empty);

    private static void ImportNetwork(IContinualNetwork network, IReadOnlyList<int> headClasses, Func<string, Tensor?> find, string prefix)
    {
        if (network.HeadCount != 0)
        {
            throw new InvalidOperationException("Import needs a network without heads.");
        }

        foreach (int classes in headClasses)
        {
            network.AddHead(classes);
        }

        using (no_grad())
        {
            foreach (var p in network.Parameters.Concat(network.Buffers))
            {
                var value = find(p.Name) ?? throw new InvalidDataException($"The checkpoint lacks {prefix}{p.Name}.");
                if (!value.shape.SequenceEqual(p.Tensor.shape))
                {
                    throw new InvalidDataException($"{p.Name} is [{string.Join(", ", value.shape)}] in the checkpoint but [{string.Join(", ", p.Tensor.shape)}] in the network.");
                }

                p.Tensor.copy_(value);
            }
        }
    }

    private static Tensor Copy(Tensor t) => t.detach().to(CPU).clone().DetachFromDisposeScope();
}
