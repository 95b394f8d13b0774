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
}
