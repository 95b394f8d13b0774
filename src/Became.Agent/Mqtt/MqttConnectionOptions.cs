using Became.Protocol;

namespace Became.Agent.Mqtt;

/// <summary>How <see cref="MqttConnection"/> reaches its broker and keeps its persistent MQTT 5 session.</summary>
public sealed record MqttConnectionOptions
{
    public required string Host { get; init; }

    public int Port { get; init; } = 1883;

    public bool UseTls { get; init; }

    /// <summary>PEM CA certificate(s) the broker's certificate must chain to instead of the system roots (TLS only).</summary>
    public string? CaFile { get; init; }

    /// <summary>PEM client certificate and its key, for brokers that require one (TLS only).</summary>
    public string? ClientCertificateFile { get; init; }

    public string? ClientKeyFile { get; init; }

    /// <summary>
    /// When true, <see cref="MqttConnection.StartAsync"/> throws <see cref="MqttConnectionRefusedException"/> if the
    /// first attempt fails for a reason retrying cannot fix (bad credentials, not authorized, an untrusted broker
    /// certificate); later failures are always retried.
    /// </summary>
    public bool FailOnStartRefusal { get; init; }

    public string? Username { get; init; }

    public string? Password { get; init; }

    /// <summary>Stable client id: the broker keeps the session (subscriptions, queued QoS 1 messages) under it.</summary>
    public required string ClientId { get; init; }

    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the broker keeps the session after a disconnect (sent in whole seconds).</summary>
    public TimeSpan SessionExpiry { get; init; } = TimeSpan.FromDays(7);

    /// <summary>First delay between reconnection attempts; doubles per failure up to <see cref="ReconnectMax"/>.</summary>
    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a live connection is pinged to notice half-open links sooner than the keep-alive would.</summary>
    public TimeSpan HealthCheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Limit on one connect, subscribe, ping or publish round trip.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Topic of the last will (the device's status topic); no will when null.</summary>
    public string? WillTopic { get; init; }

    /// <summary>Will payload as UTF-8 text, typically the status JSON with <c>"offline"</c>.</summary>
    public string? WillPayload { get; init; }

    public bool WillRetain { get; init; } = true;

    /// <summary>Topic filters subscribed at QoS 1 whenever the broker has no session for us.</summary>
    public IReadOnlyList<string> Subscriptions { get; init; } = [];

    /// <summary>Largest packet the broker may send us (MQTT 5 Maximum Packet Size); larger ones it drops. Null: no limit.</summary>
    public uint? MaximumPacketSize { get; init; }

    /// <summary>Most messages kept for publishing while disconnected.</summary>
    public int OutboxCapacity { get; init; } = 1000;

    /// <summary>How each connection attempt connects: the persistent session under <see cref="ClientId"/>, with the will.</summary>
    public MqttEndpoint Endpoint() => new()
    {
        Host = Host,
        Port = Port,
        ClientId = ClientId,
        UseTls = UseTls,
        CaFile = CaFile,
        ClientCertificateFile = ClientCertificateFile,
        ClientKeyFile = ClientKeyFile,
        Login = Username is null ? null : new BrokerLogin(Username, Password),
        PersistentSession = true,
        SessionExpiry = SessionExpiry,
        KeepAlive = KeepAlive,
        OperationTimeout = OperationTimeout,
        MaximumPacketSize = MaximumPacketSize,
        WillTopic = WillTopic,
        WillPayload = WillPayload,
        WillRetain = WillRetain,
    };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting that cannot work.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host))
        {
            throw new ArgumentException("Host is required.", nameof(Host));
        }

        if (Port is < 1 or > 65535)
        {
            throw new ArgumentException($"Port {Port} is not a TCP port.", nameof(Port));
        }

        if (string.IsNullOrWhiteSpace(ClientId))
        {
            throw new ArgumentException("ClientId is required: a persistent session needs a stable id.", nameof(ClientId));
        }

        // MQTT carries the keep-alive in a 16-bit count of seconds.
        if (KeepAlive < TimeSpan.Zero || KeepAlive.TotalSeconds > ushort.MaxValue)
        {
            throw new ArgumentException($"KeepAlive {KeepAlive} is outside 0..{ushort.MaxValue} s.", nameof(KeepAlive));
        }

        if (SessionExpiry < TimeSpan.Zero || SessionExpiry.TotalSeconds > uint.MaxValue)
        {
            throw new ArgumentException($"SessionExpiry {SessionExpiry} is outside 0..{uint.MaxValue} s.", nameof(SessionExpiry));
        }

        if (ReconnectMin <= TimeSpan.Zero || ReconnectMax < ReconnectMin)
        {
            throw new ArgumentException(
                $"Reconnect delays need 0 < ReconnectMin ({ReconnectMin}) <= ReconnectMax ({ReconnectMax}).",
                nameof(ReconnectMin));
        }

        if (HealthCheckInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("HealthCheckInterval must be positive.", nameof(HealthCheckInterval));
        }

        if (OperationTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("OperationTimeout must be positive.", nameof(OperationTimeout));
        }

        if (WillTopic is not null && string.IsNullOrWhiteSpace(WillTopic))
        {
            throw new ArgumentException("WillTopic must not be blank.", nameof(WillTopic));
        }

        if (Subscriptions.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("Subscriptions must not contain blank topic filters.", nameof(Subscriptions));
        }

        if (!UseTls && (CaFile ?? ClientCertificateFile ?? ClientKeyFile) is not null)
        {
            throw new ArgumentException("CaFile and client certificates need UseTls.", nameof(UseTls));
        }

        if ((ClientCertificateFile is null) != (ClientKeyFile is null))
        {
            throw new ArgumentException("ClientCertificateFile and ClientKeyFile go together.", nameof(ClientCertificateFile));
        }

        if (OutboxCapacity < 1)
        {
            throw new ArgumentException($"OutboxCapacity {OutboxCapacity} must be at least 1.", nameof(OutboxCapacity));
        }
    }
}
