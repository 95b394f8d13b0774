namespace Became.Protocol;

/// <summary>The topics of the contract: suffixes below {root}/{deviceId}/ and the builders of whole topics.</summary>
public static class Topics
{
    /// <summary>The default topic root.</summary>
    public const string DefaultRoot = "became";

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

    /// <summary>{root}/{device}/{suffix}: one of a device's topics (a suffix above, or below it).</summary>
    public static string Device(string root, string device, string suffix) => $"{root}/{device}/{suffix}";

    /// <summary>{root}/{device}/tasks/{taskId}: where a task for one device goes.</summary>
    public static string Task(string root, string device, string taskId) => Device(root, device, Tasks + taskId);

    /// <summary>{root}/groups/{group}/tasks/{taskId}: where a task for every device of a group goes.</summary>
    public static string GroupTask(string root, string group, string taskId) => $"{root}/{Groups}/{group}/{Tasks}{taskId}";

    /// <summary>{root}/groups/{group}/{suffix}: a topic of a group.</summary>
    public static string Group(string root, string group, string suffix) => $"{root}/{Groups}/{group}/{suffix}";

    /// <summary>{root}/{device}/status: the device's retained status.</summary>
    public static string StatusOf(string root, string device) => Device(root, device, Status);

    /// <summary>{root}/{device}/events: the device's events.</summary>
    public static string EventsOf(string root, string device) => Device(root, device, Events);

    /// <summary>{root}/+/status: every device's retained status.</summary>
    public static string EveryStatus(string root) => $"{root}/+/{Status}";

    /// <summary>The device a status topic of <see cref="EveryStatus"/> names, or null when the topic is not one.</summary>
    public static string? DeviceOfStatus(string root, string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        string prefix = root + "/", suffix = "/" + Status;
        return topic.Length > prefix.Length + suffix.Length && topic.StartsWith(prefix, StringComparison.Ordinal) && topic.EndsWith(suffix, StringComparison.Ordinal)
            ? topic[prefix.Length..^suffix.Length]
            : null;
    }

    /// <summary>{root}/{device}/replies/{requester}: where <paramref name="device"/> answers <paramref name="requester"/>
    /// (under the device's own root, where a fleet ACL lets only that device publish).</summary>
    public static string Reply(string root, string device, string requester) => Device(root, device, $"{Replies}/{requester}");
}
