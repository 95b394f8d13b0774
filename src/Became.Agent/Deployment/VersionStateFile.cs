using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Became.Agent.Configuration;
using Became.Agent.Storage;
using Became.Core.Serialization;
using Became.Core.Training;
using Became.Protocol;

namespace Became.Agent.Deployment;

/// <summary>One task of a version state file: what the adopter records for it.</summary>
/// <param name="Id">The task id.</param>
/// <param name="Name">Its name, if it had one.</param>
/// <param name="Classes">Its class count (the head's width).</param>
/// <param name="Head">Its head index.</param>
/// <param name="Samples">Samples of the accepted payload.</param>
/// <param name="TestFraction">The held-out share.</param>
/// <param name="PayloadSha256">sha256 of the accepted payload (the same payload sent to the adopter is a duplicate).</param>
/// <param name="TestSet">Whether <c>test.{head}.x</c> / <c>test.{head}.y</c> hold its held-out set.</param>
public sealed record StateFileTask(string Id, string? Name, int Classes, int Head, int Samples, double TestFraction, string PayloadSha256, bool TestSet);

/// <summary>A parsed version state file.</summary>
/// <param name="Device">The device that wrote it.</param>
/// <param name="Version">Its version number there.</param>
/// <param name="Architecture">The model's architecture metadata (JSON, heads included).</param>
/// <param name="Normalization">The model's input normalization metadata (JSON).</param>
/// <param name="HeadClasses">Class count of every head.</param>
/// <param name="Tasks">The tasks, in head order.</param>
/// <param name="File">The parsed file (tensors: model.*, memory.*, importance.*, fisher.*, test.*).</param>
public sealed record VersionState(string Device, int Version, string Architecture, string Normalization, int[] HeadClasses, IReadOnlyList<StateFileTask> Tasks, SafeTensorsFile File);

/// <summary>
/// A model version with everything a learner needs to continue from it, as one self-describing safetensors file (what
/// <c>models/pull</c> with <c>"state": true</c> returns and <c>cmd/adopt</c> fetches): the parameters (<c>model.*</c>,
/// PyTorch names), each layer's basis (<c>memory.{l}</c>) and SGP importances (<c>importance.{l}</c>), the accumulated
/// Fisher (<c>fisher.*</c>), each task's held-out test set (<c>test.{head}.x</c> float32 [n, features] in [0,1],
/// <c>test.{head}.y</c> int64), and metadata: format, device, version, architecture, normalization, heads, tasks, accuracy.
/// Built from the stored blobs without TorchSharp.
/// </summary>
public static class VersionStateFile
{
    public const string Format = "became-version-state/1";
    public const string TestPrefix = "test.";

    /// <summary>The state file of a stored version.</summary>
    public static byte[] Build(AgentStore store, ModelVersionRecord record, AgentOptions options)
    {
        var model = SafeTensorsFile.Parse(store.Blobs.Get(record.ModelBlob));
        var state = SafeTensorsFile.Parse(store.Blobs.Get(record.StateBlob));
        var tensors = model.Tensors.Select(t => t with { Name = LearnerCheckpoint.ModelPrefix + t.Name }).Concat(state.Tensors).ToList();
        var tasks = new List<StateFileTask>();
        for (int head = 0; head < record.TaskIds.Length; head++)
        {
            var task = store.FindTask(record.TaskIds[head]);
            bool testSet = false;
            if (task?.TestBlob is string testBlob && store.Blobs.Exists(testBlob))
            {
                var test = SafeTensorsFile.Parse(store.Blobs.Get(testBlob));
                if (test.Find("x") is { } x && test.Find("y") is { } y)
                {
                    string prefix = TestPrefix + head.ToString(CultureInfo.InvariantCulture) + ".";
                    tensors.Add(x with { Name = prefix + "x" });
                    tensors.Add(y with { Name = prefix + "y" });
                    testSet = true;
                }
            }

            tasks.Add(new StateFileTask(record.TaskIds[head], task?.Name, record.HeadClasses.ElementAtOrDefault(head), head,
                task?.Samples ?? 0, task?.TestFraction ?? 0, task?.PayloadSha256 ?? string.Empty, testSet));
        }

        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["device"] = options.DeviceId,
            ["version"] = record.Version.ToString(CultureInfo.InvariantCulture),
            ["architecture"] = model.Metadata.GetValueOrDefault("architecture") ?? string.Empty,
            ["normalization"] = model.Metadata.GetValueOrDefault("normalization") ?? string.Empty,
            ["heads"] = JsonSerializer.Serialize(record.HeadClasses),
            ["tasks"] = JsonSerializer.Serialize(tasks, Json),
            ["accuracy"] = JsonSerializer.Serialize(record.Accuracy),
            ["method"] = options.Training.Method,
            ["projection"] = options.Training.Projection,
            ["modelSha256"] = record.ModelBlob,
            ["createdAt"] = record.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
        };
        if (record.AdoptedFrom is { } from)
        {
            metadata["adoptedFrom"] = JsonSerializer.Serialize(new { device = from.Device, version = from.Version });
        }

        return SafeTensorsFile.Write(tensors, metadata);
    }

    /// <summary>Parses a state file; <see cref="InvalidDataException"/> when it is not one (or not whole).</summary>
    public static VersionState Read(ReadOnlyMemory<byte> bytes)
    {
        SafeTensorsFile file;
        try
        {
            file = SafeTensorsFile.Parse(bytes);
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"not a safetensors file: {e.Message}", e);
        }

        string Meta(string key) => file.Metadata.GetValueOrDefault(key) ?? throw new InvalidDataException($"the state file lacks metadata '{key}'");
        if (Meta("format") != Format)
        {
            throw new InvalidDataException($"the file's format is '{Meta("format")}', not {Format}");
        }

        try
        {
            int version = int.Parse(Meta("version"), CultureInfo.InvariantCulture);
            int[] heads = JsonSerializer.Deserialize<int[]>(Meta("heads")) ?? [];
            var tasks = JsonSerializer.Deserialize<List<StateFileTask>>(Meta("tasks"), Json) ?? [];
            if (tasks.Count != heads.Length || tasks.Select((t, i) => t.Head == i && t.Classes == heads[i] && !string.IsNullOrEmpty(t.Id)).Contains(false)
                || tasks.Select(t => t.Id).Distinct(StringComparer.Ordinal).Count() != tasks.Count)
            {
                throw new InvalidDataException("the state file's tasks do not match its heads");
            }

            _ = JsonNode.Parse(Meta("architecture"));
            return new VersionState(Meta("device"), version, Meta("architecture"), Meta("normalization"), heads, tasks, file);
        }
        catch (Exception e) when (e is JsonException or FormatException or OverflowException)
        {
            throw new InvalidDataException($"the state file's metadata is malformed: {e.Message}", e);
        }
    }

    /// <summary>The architecture without its heads (the part both devices must share), as canonical JSON.</summary>
    public static string WithoutHeads(string architectureJson)
    {
        var node = JsonNode.Parse(architectureJson) as JsonObject ?? throw new InvalidDataException("the architecture metadata is not a JSON object");
        node.Remove("heads");
        return node.ToJsonString();
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
}
