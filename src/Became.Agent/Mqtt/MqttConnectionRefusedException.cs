namespace Became.Agent.Mqtt;

/// <summary>The broker refused the first connection for a reason that retrying cannot fix (credentials, authorization, TLS trust).</summary>
public sealed class MqttConnectionRefusedException(string reason, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>MQTT reason code (e.g. BadUserNameOrPassword) or "TlsAuthentication".</summary>
    public string Reason { get; } = reason;
}
