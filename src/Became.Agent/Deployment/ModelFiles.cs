using System.Globalization;
using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Intake;
using Became.Agent.Storage;
using Became.Core.Models;
using Became.Core.Native;
using Became.Core.Serialization;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Agent.Deployment;

/// <summary>A learner rebuilt from a stored version (or fresh), owning its network.</summary>
public sealed class LearnerSession : IDisposable
{
    public LearnerSession(IContinualNetwork network, ContinualLearner learner)
    {
        Network = network;
        Learner = learner;
    }

    public IContinualNetwork Network { get; }

    public ContinualLearner Learner { get; }

    private bool _networkReleased;

    /// <summary>Hands the network to the caller (e.g. to serve it); the session no longer disposes it.</summary>
    public IContinualNetwork ReleaseNetwork()
    {
        _networkReleased = true;
        return Network;
    }

    public void Dispose()
    {
        Learner.Dispose();
        if (!_networkReleased)
        {
            Network.Dispose();
        }
    }
}

/// <summary>Turns learner state into the stored files and back: the model as a PyTorch-named safetensors state
/// dict with metadata, and the learner state (memory bases, accumulated Fisher) beside it.</summary>
public static class ModelFiles
{
    public const string Format = "became-model/1";
    public const string StateFormat = "became-learner-state/1";

    /// <summary>The model file's <c>normalization</c> metadata for these settings.</summary>
    public static string Normalization(AgentOptions options) =>
        JsonSerializer.Serialize(new { scale = "uint8/255", mean = options.Model.NormalizationMean, std = options.Model.NormalizationStd });

    /// <summary>A learner at the given version (fresh when null), with the configured method and network.</summary>
    public static LearnerSession Open(AgentOptions options, ModelVersionRecord? version, BlobStore blobs, ComputeDevice device)
    {
        // One seed per version for the network's own generator and the learner's: the same tasks give the same model.
        long seed = options.Training.Seed + (version?.Version ?? 0);
        var network = options.Model.CreateNetwork(device.Device, seed);
        ContinualLearner? learner = null;
        try
        {
            learner = new ContinualLearner(network, options.Training.ToLearnerOptions(options.Model), seed);
            if (version is not null)
            {
                using var scope = NewDisposeScope();
                var state = new Dictionary<string, Tensor>();
                foreach (var t in SafeTensorsFile.Parse(blobs.Get(version.ModelBlob)).Tensors)
                {
                    state[LearnerCheckpoint.ModelPrefix + t.Name] = SafeTensorsFile.ToTensor(t);
                }

                foreach (var t in SafeTensorsFile.Parse(blobs.Get(version.StateBlob)).Tensors)
                {
                    state[t.Name] = SafeTensorsFile.ToTensor(t);
                }

                LearnerCheckpoint.Import(learner, version.HeadClasses, state);
            }

            return new LearnerSession(network, learner);
        }
        catch
        {
            learner?.Dispose();
            network.Dispose();
            throw;
        }
    }

    /// <summary>The model file of a learner's network and the state file of its memory and Fisher; with
    /// <paramref name="initialWeights"/> (the file the body started from: name and sha256, for the first version of a
    /// device set up with <c>Model:InitialWeights</c>) its metadata records them.</summary>
    public static (byte[] Model, byte[] State) Write(ContinualLearner learner, AgentOptions options, int version, int parent, IReadOnlyList<string> taskIds, (string File, string Sha256)? initialWeights = null)
    {
        var exported = LearnerCheckpoint.Export(learner);
        try
        {
            var model = exported.Where(kv => kv.Key.StartsWith(LearnerCheckpoint.ModelPrefix, StringComparison.Ordinal))
                .Select(kv => SafeTensorsFile.FromTensor(kv.Key[LearnerCheckpoint.ModelPrefix.Length..], kv.Value));
            var state = exported.Where(kv => !kv.Key.StartsWith(LearnerCheckpoint.ModelPrefix, StringComparison.Ordinal))
                .Select(kv => SafeTensorsFile.FromTensor(kv.Key, kv.Value));
            var metadata = Metadata(version, parent, learner.Network.Architecture.ToJson(), taskIds, Normalization(options), adoptedFrom: null, initialWeights);
            return (SafeTensorsFile.Write(model.ToList(), metadata), SafeTensorsFile.Write(state.ToList(), StateMetadata));
        }
        finally
        {
            foreach (var t in exported.Values)
            {
                t.Dispose();
            }
        }
    }

    /// <summary>The learner state file's metadata.</summary>
    public static Dictionary<string, string> StateMetadata => new() { ["format"] = StateFormat };

    /// <summary>A model file's metadata (the one copy a job's and an adoption's files share): this device's version
    /// number and parent, the architecture, the tasks of the heads in order, the normalisation, where it was adopted from,
    /// the initial weights its body started from (<c>initialWeights</c>: file name and sha256).</summary>
    public static Dictionary<string, string> Metadata(int version, int parent, string architecture, IEnumerable<string> taskIds, string normalization, (string Device, int Version)? adoptedFrom, (string File, string Sha256)? initialWeights = null)
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["version"] = version.ToString(CultureInfo.InvariantCulture),
            ["parent"] = parent.ToString(CultureInfo.InvariantCulture),
            ["architecture"] = architecture,
            ["tasks"] = JsonSerializer.Serialize(taskIds),
            ["normalization"] = normalization,
        };
        if (adoptedFrom is var (device, number))
        {
            metadata["adoptedFrom"] = JsonSerializer.Serialize(new { device, version = number });
        }

        if (initialWeights is var (file, sha256))
        {
            metadata["initialWeights"] = JsonSerializer.Serialize(new { file, sha256 });
        }

        metadata["createdAt"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
        return metadata;
    }

    /// <summary>A held-out test set as safetensors: x float32 [n, features] scaled to [0,1], y int64 [n].</summary>
    public static byte[] WriteTestSet(ScaledSamples test)
    {
        using var scope = NewDisposeScope();
        var x = tensor(test.Inputs, [test.Count, test.Features]);
        var y = tensor(test.Labels, [test.Count]);
        return SafeTensorsFile.Write([SafeTensorsFile.FromTensor("x", x), SafeTensorsFile.FromTensor("y", y)]);
    }

    public static ScaledSamples ReadTestSet(byte[] file)
    {
        var parsed = SafeTensorsFile.Parse(file);
        var x = parsed.Find("x") ?? throw new InvalidDataException("Test set without x.");
        var y = parsed.Find("y") ?? throw new InvalidDataException("Test set without y.");
        if (x.DType != SafeTensorDType.F32 || y.DType != SafeTensorDType.I64 || x.Shape.Length != 2)
        {
            throw new InvalidDataException($"Test set has x {x.DType} [{string.Join(", ", x.Shape)}] and y {y.DType}; expected F32 [n, features] and I64.");
        }

        return new ScaledSamples(
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(x.Data.Span).ToArray(),
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(y.Data.Span).ToArray(),
            (int)x.Shape[1]);
    }
}
