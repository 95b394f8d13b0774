namespace Became.Protocol;

/// <summary>Event types published on became/{deviceId}/events.</summary>
public static class EventTypes
{
    public const string TaskAccepted = "task.accepted";
    public const string TaskRejected = "task.rejected";
    public const string TaskDuplicate = "task.duplicate";
    public const string TrainingProgress = "training.progress";
    public const string ModelMerged = "model.merged";
    public const string ModelDeployed = "model.deployed";
    public const string ModelRejected = "model.rejected";
    public const string RequestRejected = "request.rejected";
    public const string JobFailed = "job.failed";
    public const string ModelCorrupt = "model.corrupt";
    public const string JobInterrupted = "job.interrupted";
    public const string TaskDeferred = "task.deferred";
    public const string MessageDropped = "message.dropped";
}
