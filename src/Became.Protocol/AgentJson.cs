using System.Text.Json;

namespace Became.Protocol;

/// <summary>The JSON settings of everything the agent sends (events, status, replies): camelCase names.</summary>
public static class AgentJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}
