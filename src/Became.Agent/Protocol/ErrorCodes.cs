namespace Became.Agent.Protocol;

/// <summary>The machine codes of refused requests (the <c>error</c> of a reply or HTTP body) and their HTTP status.</summary>
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
        CorruptVersion or GateRefused or Busy or TaskConflict or ArchitectureMismatch => 409,
        PeerTimeout => 504,
        PeerError => 502,
        TooLarge => 413,
        InternalError => 500,
        _ => 400,
    };
}
