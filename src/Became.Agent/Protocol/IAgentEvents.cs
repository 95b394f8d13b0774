namespace Became.Agent.Protocol;

/// <summary>Where events and the retained status go (MQTT in the agent): lets deployment and jobs announce what
/// they do without depending on the messaging that carries it.</summary>
public interface IAgentEvents
{
    /// <summary>Publishes one event with extra fields (camelCase names).</summary>
    Task PublishAsync(string type, string? taskId, IReadOnlyDictionary<string, object?>? fields, CancellationToken cancellationToken);

    /// <summary>Publishes the retained status.</summary>
    Task PublishStatusAsync(AgentStatus status, CancellationToken cancellationToken);
}
