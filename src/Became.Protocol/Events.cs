using System.Text.Json.Serialization;

namespace Became.Protocol;

/// <summary>The body of one event on became/{deviceId}/events; <see cref="Type"/> names it on the wire.</summary>
public interface IAgentEvent
{
    /// <summary>The event's type (one of <see cref="EventTypes"/>).</summary>
    static abstract string Type { get; }
}

/// <summary>task.accepted: stored and queued; <paramref name="Group"/> names the group when it came on a group topic.</summary>
public sealed record TaskAccepted(string? Name, int Samples, int Classes, int QueueLength,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Group = null) : IAgentEvent
{
    public static string Type => EventTypes.TaskAccepted;
}

/// <summary>task.duplicate: the same id and content came before; <paramref name="State"/> is that task's state.</summary>
public sealed record TaskDuplicate(string State) : IAgentEvent
{
    public static string Type => EventTypes.TaskDuplicate;
}

/// <summary>task.rejected: refused, with a machine reason and a human message.</summary>
public sealed record TaskRejected(string Reason, string Message) : IAgentEvent
{
    public static string Type => EventTypes.TaskRejected;
}

/// <summary>task.deferred: not stored; the broker delivers it again.</summary>
public sealed record TaskDeferred(string Reason, string Message) : IAgentEvent
{
    public static string Type => EventTypes.TaskDeferred;
}

/// <summary>training.progress: one epoch (with the training samples per second it ran at); a figure that is not finite goes out as null.</summary>
public sealed record TrainingProgress(int Stage, int Epoch, int Epochs, double? Loss, double? ValidationLoss, double? ValidationAccuracy, double? SamplesPerSecond = null) : IAgentEvent
{
    public static string Type => EventTypes.TrainingProgress;
}

/// <summary>model.merged: the task was merged into the shared network with this coefficient.</summary>
public sealed record ModelMerged(double MergeCoefficient) : IAgentEvent
{
    public static string Type => EventTypes.ModelMerged;
}

/// <summary>model.deployed: a job's new version (with its ranks and training time) or a rollback (<c>rollback: true</c>);
/// <c>taskAgnosticAccuracy</c> is the held-out accuracy (percent) without a task id, when the version can answer so.</summary>
public sealed record ModelDeployed(
    int Version,
    IReadOnlyDictionary<string, double> Accuracy,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int[]? MemoryRanks = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? TrainingSeconds = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? Rollback = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] AdoptedFrom? AdoptedFrom = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? LostTasks = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? TaskAgnosticAccuracy = null) : IAgentEvent
{
    public static string Type => EventTypes.ModelDeployed;
}

/// <summary>The peer device and its version number that an adopted version came from.</summary>
public sealed record AdoptedFrom(string Device, int Version);

/// <summary>model.rejected: the gate kept the version stored but not deployed.</summary>
public sealed record ModelRejected(
    int Version,
    int DeployedVersion,
    string Reason,
    IReadOnlyDictionary<string, double> Accuracy,
    IReadOnlyDictionary<string, double>? DeployedAccuracy,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] AdoptedFrom? AdoptedFrom = null) : IAgentEvent
{
    public static string Type => EventTypes.ModelRejected;
}

/// <summary>model.corrupt: a version's files failed their checksum; <paramref name="FallbackVersion"/> serves.</summary>
public sealed record ModelCorrupt(int Version, int FallbackVersion, IReadOnlyList<string> Reasons, IReadOnlyList<string> LostTasks) : IAgentEvent
{
    public static string Type => EventTypes.ModelCorrupt;
}

/// <summary>job.failed: a transient failure (<c>retry: true</c>, with the attempt and backoff), a final one, or one
/// after the commit (<c>committed: true</c> with the version).</summary>
public sealed record JobFailed(
    string Reason,
    bool Retry,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Attempt = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? RetryInSeconds = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? Committed = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Version = null) : IAgentEvent
{
    public static string Type => EventTypes.JobFailed;
}

/// <summary>job.interrupted: a job that started before a stop or crash restarts from the beginning.</summary>
public sealed record JobInterrupted(DateTime? StartedAt, int RemovedOrphanBlobs) : IAgentEvent
{
    public static string Type => EventTypes.JobInterrupted;
}

/// <summary>request.rejected: a refusal that could not be a reply (no usable response topic).</summary>
public sealed record RequestRejected(string Request, string Reason, string Message) : IAgentEvent
{
    public static string Type => EventTypes.RequestRejected;
}

/// <summary>message.dropped: a publication the connection gave up.</summary>
public sealed record MessageDropped(string Topic, long Bytes, string Reason, string Message) : IAgentEvent
{
    public static string Type => EventTypes.MessageDropped;
}

/// <summary>The reply to a rollback (MQTT and HTTP).</summary>
public sealed record RollbackReply(int Version, bool Deployed, bool Queued);

/// <summary>The reply to cmd/adopt: the local version it became and whether it serves now or after the job in flight.</summary>
public sealed record AdoptReply(AdoptedFrom From, int? Version, bool Deployed, bool Queued, IReadOnlyList<string> Tasks, IReadOnlyDictionary<string, double>? Accuracy);

/// <summary>The reply to a refused request (MQTT and HTTP).</summary>
public sealed record ErrorReply(string Error, string Message);
