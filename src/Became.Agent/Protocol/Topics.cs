namespace Became.Agent.Protocol;

/// <summary>Topic suffixes below became/{deviceId}/ (AgentOptions.Topic prefixes them).</summary>
public static class Topics
{
    public const string Tasks = "tasks/";
    public const string TasksFilter = "tasks/#";
    public const string ModelsPull = "models/pull";
    public const string Infer = "infer";
    public const string Rollback = "cmd/rollback";
    public const string Adopt = "cmd/adopt";
    public const string Events = "events";
    public const string Status = "status";

    /// <summary>Replies to a requester: {root}/{replying device}/replies/{requester}/{nonce} (the fleet ACL's rule).</summary>
    public const string Replies = "replies";

    /// <summary>The level below the topic root that holds group topics: {root}/groups/{group}/tasks/{taskId}; no
    /// device may be called this.</summary>
    public const string Groups = "groups";
}
