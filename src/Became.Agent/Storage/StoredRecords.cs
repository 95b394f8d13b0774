using Became.Protocol;
using LiteDB;

namespace Became.Agent.Storage;

/// <summary>Where a task is in its life.</summary>
public enum TaskState
{
    /// <summary>Accepted and stored, waiting for (or in) training.</summary>
    Queued,

    /// <summary>Learned: part of a committed model version.</summary>
    Learned,

    /// <summary>Training failed; the reason is kept.</summary>
    Failed,

    /// <summary>Learned into a stored version that the deployment gate kept from being deployed.</summary>
    NotDeployed,
}

/// <summary>One accepted task (LiteDB document; the payload and test set live in blob files).</summary>
public sealed class TaskRecord
{
    [BsonId]
    public string Id { get; set; } = string.Empty;

    /// <summary>Arrival order; jobs run in this order.</summary>
    public long Sequence { get; set; }

    public string? Name { get; set; }

    public int Classes { get; set; }

    public int Samples { get; set; }

    public double TestFraction { get; set; }

    public TaskState State { get; set; }

    /// <summary>sha256 of the accepted payload: a redelivery has the same, a different task under a used id does not.</summary>
    public string PayloadSha256 { get; set; } = string.Empty;

    /// <summary>Blob of the payload until the task is learned.</summary>
    public string? PayloadBlob { get; set; }

    /// <summary>Blob of the held-out test set kept for accuracy tracking.</summary>
    public string? TestBlob { get; set; }

    public int? Head { get; set; }

    public int? Version { get; set; }

    public DateTime AcceptedAt { get; set; }

    public DateTime? LearnedAt { get; set; }

    public string? Error { get; set; }

    /// <summary>When the current attempt started (UTC); still set at start-up means the agent stopped or crashed during it.</summary>
    public DateTime? StartedAt { get; set; }

    /// <summary>The device this task was learned on when it came with an adopted version (null: learned here).</summary>
    public string? AdoptedFrom { get; set; }

    /// <summary>Failed attempts so far that were transient (the task stayed queued).</summary>
    public int Attempts { get; set; }

    /// <summary>Not before this time (UTC) is the task tried again after a transient failure.</summary>
    public DateTime? RetryAt { get; set; }

    /// <summary>Records the task as in <paramref name="version"/> at <paramref name="head"/> (learned here or adopted): its
    /// payload is no longer needed, its attempt and any error are over. The one copy a job's and an adoption's commit share.</summary>
    public void MarkIn(int version, int head, TaskState state, string? testBlob)
    {
        State = state;
        Head = head;
        Version = version;
        TestBlob = testBlob;
        PayloadBlob = null;
        LearnedAt = DateTime.UtcNow;
        Error = null;
        RetryAt = null;
        StartedAt = null;
    }
}

/// <summary>One committed model version: the network after learning a task, plus the learner's state.</summary>
public sealed class ModelVersionRecord
{
    [BsonId]
    public int Version { get; set; }

    public int ParentVersion { get; set; }

    public string TaskId { get; set; } = string.Empty;

    /// <summary>Blob of the model (safetensors state dict with metadata); its name is its sha256.</summary>
    public string ModelBlob { get; set; } = string.Empty;

    /// <summary>Blob of the memory bases and accumulated Fisher.</summary>
    public string StateBlob { get; set; } = string.Empty;

    public int[] HeadClasses { get; set; } = [];

    public string[] TaskIds { get; set; } = [];

    public double? MergeCoefficient { get; set; }

    public int[] MemoryRanks { get; set; } = [];

    /// <summary>Held-out accuracy (percent) of this version on every task learned so far.</summary>
    public Dictionary<string, double> Accuracy { get; set; } = [];

    /// <summary>Held-out accuracy (percent) without a task id over every task's set; null when the version keeps no
    /// class statistics for every task (made before they existed).</summary>
    public double? TaskAgnosticAccuracy { get; set; }

    public double TrainingSeconds { get; set; }

    public DateTime CreatedAt { get; set; }

    /// <summary>Why the deployment gate held this version back (null when it was deployed).</summary>
    public string? GateReason { get; set; }

    /// <summary>Why this version's files failed their checksum at start-up (null while they are intact).</summary>
    public string? Corrupt { get; set; }

    /// <summary>The peer's device and version this one was adopted from (null: learned here).</summary>
    public AdoptedSource? AdoptedFrom { get; set; }
}

/// <summary>Where an adopted version came from: the peer's device id and its version number there.</summary>
public sealed class AdoptedSource
{
    public string Device { get; set; } = string.Empty;

    public int Version { get; set; }
}

/// <summary>Single-valued settings of the store (the deployed version).</summary>
internal sealed class StoreSetting
{
    [BsonId]
    public string Key { get; set; } = string.Empty;

    public long Value { get; set; }
}

/// <summary>
/// How the store maps records to BSON. Per-task accuracy figures are stored as [taskId, percent] pairs, not as a
/// document: LiteDB's document keys compare ignoring case, which would merge the figures of "A" and "a". Non-finite
/// figures are dropped both ways (an empty held-out set once stored NaN, which JSON cannot carry).
/// </summary>
internal static class StoreMapper
{
    public static BsonMapper Create()
    {
        var mapper = new BsonMapper();
        mapper.RegisterType(Serialize, Deserialize);
        return mapper;
    }

    private static BsonValue Serialize(Dictionary<string, double> accuracy) =>
        new BsonArray(accuracy.Where(a => double.IsFinite(a.Value)).Select(a => new BsonArray(a.Key, a.Value)));

    private static Dictionary<string, double> Deserialize(BsonValue value)
    {
        var pairs = value switch
        {
            BsonArray array => array.Where(p => p.IsArray && p.AsArray.Count == 2).Select(p => (p.AsArray[0].AsString, p.AsArray[1].AsDouble)),

            // Records written before the pairs: a document keyed by task id.
            BsonDocument document => document.Select(p => (p.Key, p.Value.AsDouble)),
            _ => [],
        };
        var accuracy = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (taskId, percent) in pairs)
        {
            if (double.IsFinite(percent))
            {
                accuracy[taskId] = percent;
            }
        }

        return accuracy;
    }
}
