namespace Became.Protocol;

/// <summary>How one MQTT 5 client connects: the broker, TLS, the account, the client id, the session and the will. The
/// defaults are an operator's tool's: anonymous, plain TCP, a clean session that ends with the connection, no will.</summary>
public sealed record MqttEndpoint
{
    public required string Host { get; init; }

    public int Port { get; init; } = 1883;

    /// <summary>The client id; a persistent session is kept under it.</summary>
    public required string ClientId { get; init; }

    public bool UseTls { get; init; }

    /// <summary>PEM CA certificate(s) the broker's certificate must chain to instead of the system roots (TLS only).</summary>
    public string? CaFile { get; init; }

    /// <summary>PEM client certificate and its key, for brokers that require one (TLS only).</summary>
    public string? ClientCertificateFile { get; init; }

    public string? ClientKeyFile { get; init; }

    /// <summary>The account on a secured broker; null connects without credentials.</summary>
    public BrokerLogin? Login { get; init; }

    /// <summary>True: CONNECT without clean start, so the broker resumes the session kept under <see cref="ClientId"/>.</summary>
    public bool PersistentSession { get; init; }

    /// <summary>How long the broker keeps the session after a disconnect (sent in whole seconds; 0: it ends with the connection).</summary>
    public TimeSpan SessionExpiry { get; init; } = TimeSpan.Zero;

    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Limit on one connect, subscribe, ping or publish round trip; null: MQTTnet's default.</summary>
    public TimeSpan? OperationTimeout { get; init; }

    /// <summary>Largest packet the broker may send us (MQTT 5 Maximum Packet Size). Null: no limit.</summary>
    public uint? MaximumPacketSize { get; init; }

    /// <summary>Topic of the last will; no will when null.</summary>
    public string? WillTopic { get; init; }

    /// <summary>Will payload as UTF-8 text.</summary>
    public string? WillPayload { get; init; }

    public bool WillRetain { get; init; } = true;

    /// <summary>An operator's tool's connection: a fresh client id <c>{clientIdPrefix}-{guid}</c>, a clean session.</summary>
    public static MqttEndpoint Tool(string host, int port, BrokerLogin? login, string clientIdPrefix) =>
        new() { Host = host, Port = port, Login = login, ClientId = $"{clientIdPrefix}-{Guid.NewGuid():N}" };
}
