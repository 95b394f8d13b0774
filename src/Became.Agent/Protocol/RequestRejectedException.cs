using Became.Protocol;

namespace Became.Agent.Protocol;

/// <summary>A request the device cannot answer, with a machine code (<see cref="ErrorCodes"/>) and a human message.</summary>
public sealed class RequestRejectedException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
