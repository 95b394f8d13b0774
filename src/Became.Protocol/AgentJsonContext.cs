using System.Text.Json;
using System.Text.Json.Serialization;

namespace Became.Protocol;

/// <summary>Source-generated JSON (camelCase, as <see cref="AgentJson.Options"/>) for every event, the status and the replies.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(AgentStatus))]
[JsonSerializable(typeof(TaskAccepted))]
[JsonSerializable(typeof(TaskDuplicate))]
[JsonSerializable(typeof(TaskRejected))]
[JsonSerializable(typeof(TaskDeferred))]
[JsonSerializable(typeof(TrainingProgress))]
[JsonSerializable(typeof(ModelMerged))]
[JsonSerializable(typeof(ModelDeployed))]
[JsonSerializable(typeof(ModelRejected))]
[JsonSerializable(typeof(ModelCorrupt))]
[JsonSerializable(typeof(JobFailed))]
[JsonSerializable(typeof(JobInterrupted))]
[JsonSerializable(typeof(RequestRejected))]
[JsonSerializable(typeof(MessageDropped))]
[JsonSerializable(typeof(RollbackReply))]
[JsonSerializable(typeof(ErrorReply))]
[JsonSerializable(typeof(AdoptReply))]
public sealed partial class AgentJsonContext : JsonSerializerContext;
