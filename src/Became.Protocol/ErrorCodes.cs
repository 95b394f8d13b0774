namespace Became.Protocol;

/// <summary>The machine codes of refusals — of a request (the <c>error</c> of a reply or HTTP body) and of a task (the
/// <c>reason</c> of task.rejected, task.deferred) — and their HTTP status: one list, wire strings fixed by the contract.</summary>
public static class ErrorCodes
{
    public const string BadRequest = "bad_request";
    public const string BadShape = "bad_shape";
    public const string BadDtype = "bad_dtype";
    public const string TooLarge = "too_large";
    public const string NonFinite = "non_finite";
    public const string OutOfRange = "out_of_range";
    public const string NoModel = "no_model";
    public const string UnknownTask = "unknown_task";
    public const string UnknownVersion = "unknown_version";
    public const string CorruptVersion = "corrupt_version";
    public const string NoResponseTopic = "no_response_topic";
    public const string BadResponseTopic = "bad_response_topic";
    public const string InternalError = "internal_error";

    /// <summary>An infer without a task id, to a version that keeps no class statistics (made before they existed).</summary>
    public const string NoTaskStatistics = "no_task_statistics";

    // Task payloads (task.rejected; `became publish` checks them locally). Shared with requests above: too_large,
    // bad_shape, bad_dtype, non_finite, out_of_range.
    public const string NotSafetensors = "not_safetensors";
    public const string MissingTensor = "missing_tensor";
    public const string CountMismatch = "count_mismatch";
    public const string BadLabel = "bad_label";
    public const string BadClasses = "bad_classes";
    public const string Empty = "empty";
    public const string SingleClass = "single_class";
    public const string BadMetadata = "bad_metadata";
    public const string TooSmall = "too_small";

    // Task intake: what the device decides about a task message before its payload.
    public const string BadTaskId = "bad_task_id";
    public const string DuplicateId = "duplicate_id";
    public const string QueueFull = "queue_full";

    /// <summary>task.deferred: the task could not be stored; the broker delivers it again.</summary>
    public const string StorageError = "storage_error";

    // cmd/adopt: the peer's version cannot be adopted.
    public const string ArchitectureMismatch = "architecture_mismatch";
    public const string ChecksumMismatch = "checksum_mismatch";
    public const string BadState = "bad_state";
    public const string TaskConflict = "task_conflict";
    public const string PeerTimeout = "peer_timeout";
    public const string PeerError = "peer_error";
    public const string GateRefused = "gate_refused";
    public const string Busy = "busy";

    /// <summary>The HTTP status that answers <paramref name="code"/>: 404 for what does not exist, 409 for a version
    /// that cannot be deployed, 413 for a body too large, 500 for the device's own failure, else 400.</summary>
    public static int HttpStatus(string code) => code switch
    {
        NoModel or UnknownTask or UnknownVersion => 404,
        CorruptVersion or GateRefused or Busy or TaskConflict or ArchitectureMismatch or NoTaskStatistics => 409,
        PeerTimeout => 504,
        PeerError => 502,
        TooLarge => 413,
        InternalError => 500,
        _ => 400,
    };
}
