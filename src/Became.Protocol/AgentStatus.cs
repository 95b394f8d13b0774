namespace Became.Protocol;

/// <summary>The states the retained status shows (strings on the wire).</summary>
public static class AgentState
{
    public const string Idle = "idle";
    public const string Training = "training";
    public const string Offline = "offline";
}

/// <summary>The agent's status, retained on became/{deviceId}/status.</summary>
/// <param name="State">idle, training or offline (<see cref="AgentState"/>).</param>
/// <param name="DeployedVersion">0 before the first model.</param>
/// <param name="QueueLength">Tasks waiting (including the one training).</param>
/// <param name="TasksLearned">Tasks in the deployed model.</param>
/// <param name="LastError">The last job failure or rejection, if any.</param>
/// <param name="Time">When this status was produced.</param>
/// <param name="Accuracy">The deployed version's held-out accuracy per task (percent, in head order); null before the first model.</param>
/// <param name="Progress">The epoch training has reached while a job trains, else null.</param>
/// <param name="Groups">The device's groups (setting Groups); absent when it has none.</param>
/// <param name="DeviceId">The device's id, so a status read over HTTP names its device as the MQTT topic does.</param>
public sealed record AgentStatus(
    string State,
    int DeployedVersion,
    int QueueLength,
    int TasksLearned,
    string? LastError,
    DateTimeOffset Time,
    IReadOnlyDictionary<string, double>? Accuracy = null,
    TrainingStatus? Progress = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Groups = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? DeviceId = null);

/// <summary>How far the job in training is: its stage (1 stable, 2 plastic), the epoch and the schedule's maximum.</summary>
public sealed record TrainingStatus(int Stage, int Epoch, int Epochs);
