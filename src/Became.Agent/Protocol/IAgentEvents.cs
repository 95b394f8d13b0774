using Became.Protocol;

namespace Became.Agent.Protocol;

/// <summary>Where events and the retained status go (MQTT in the agent): lets deployment and jobs announce what
/// they do without depending on the messaging that carries it.</summary>
public interface IAgentEvents
{
    /// <summary>Publishes one event: its type, the task it concerns (or null), the time, then the event's fields.</summary>
    Task PublishAsync<TEvent>(string? taskId, TEvent body, CancellationToken cancellationToken)
        where TEvent : IAgentEvent;

    /// <summary>Publishes the retained status.</summary>
    Task PublishStatusAsync(AgentStatus status, CancellationToken cancellationToken);
}
