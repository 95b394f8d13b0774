using System.Net;
using Microsoft.Extensions.Logging;
using MQTTnet.Server;

namespace Became.Agent.Mqtt;

/// <summary>A listening port that another socket holds: the user's choice of port, not a fault to debug.</summary>
public sealed class PortInUseException(string message, Exception innerException) : IOException(message, innerException)
{
    /// <summary>The message only, so the log shows no stack trace for a taken port.</summary>
    public override string ToString() => $"{GetType().FullName}: {Message}";
}

/// <summary>
/// An in-process MQTT 5 broker on 127.0.0.1, for a device without an external broker. Sessions persist while the
/// broker runs (a client that reconnects without clean start gets the QoS 1 messages queued meanwhile); nothing
/// survives a restart of the process.
/// </summary>
public sealed class EmbeddedBroker : IAsyncDisposable
{
    private static readonly System.Reflection.FieldInfo? ConnectPacket =
        typeof(ValidatingConnectionEventArgs).GetField("_connectPacket", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);

    private readonly int _requestedPort;
    private readonly ILogger<EmbeddedBroker> _logger;
    private MqttServer? _server;
    private int _disposed;

    /// <param name="port">TCP port on 127.0.0.1; 0 lets the system pick a free one, read it from <see cref="Port"/>.</param>
    /// <param name="logger">Receives start and stop.</param>
    public EmbeddedBroker(int port, ILogger<EmbeddedBroker> logger)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        ArgumentNullException.ThrowIfNull(logger);
        _requestedPort = port;
        _logger = logger;
        Port = port;
    }

    /// <summary>The port listened on; the system's choice once started when 0 was asked for.</summary>
    public int Port { get; private set; }

    public bool IsRunning => _server?.IsStarted == true;

    /// <summary>Binds the port and starts accepting clients; throws if the port is taken.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        if (_server is not null)
        {
            throw new InvalidOperationException("The embedded broker is already started.");
        }

        var options = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
            // IPAddress.None switches the IPv6 listener off: local clients only, and one port to report.
            .WithDefaultEndpointBoundIPV6Address(IPAddress.None)
            .WithDefaultEndpointPort(_requestedPort)
            // No WithDefaultEndpointReuseAddress(): on Linux .NET turns it into SO_REUSEADDR *and* SO_REUSEPORT, and the
            // latter lets a second broker bind the same port. .NET's listening sockets on Linux have SO_REUSEADDR anyway,
            // so a quick restart still binds over the previous run's TIME_WAIT connections (EmbeddedBrokerTests).
            .WithPersistentSessions()
            .Build();

        var server = new MqttServerFactory().CreateMqttServer(options);
        server.ValidatingConnectionAsync += e =>
        {
            // An empty client id (mosquitto_sub's default) gets a generated one, as mosquitto does, instead of
            // "identifier rejected"; MQTT 5 clients are told it in the CONNACK.
            if (string.IsNullOrEmpty(e.ClientId))
            {
                string id = $"auto-{Guid.NewGuid():N}";
                e.AssignedClientIdentifier = id;

                // MQTTnet takes an assigned id from MQTT 5 clients only; for 3.1.1 (which allows an empty id with a clean
                // session) the CONNECT packet itself gets it. EmbeddedBrokerTests covers both, so an MQTTnet change shows.
                if (e.ProtocolVersion != MQTTnet.Formatter.MqttProtocolVersion.V500 && ConnectPacket?.GetValue(e) is MQTTnet.Packets.MqttConnectPacket packet)
                {
                    packet.ClientId = id;
                }
            }

            return Task.CompletedTask;
        };
        server.ClientConnectedAsync += e =>
        {
            MqttLog.BrokerClientConnected(_logger, e.ClientId);
            return Task.CompletedTask;
        };
        server.ClientDisconnectedAsync += e =>
        {
            MqttLog.BrokerClientDisconnected(_logger, e.ClientId, e.DisconnectType.ToString());
            return Task.CompletedTask;
        };

        try
        {
            await server.StartAsync().ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
        {
            server.Dispose();
            throw new PortInUseException(
                $"port {_requestedPort} on 127.0.0.1 is taken (by another agent's embedded broker or another program); choose another with --embedded-port (Broker:EmbeddedPort, 0 picks a free one) or use that broker with --broker",
                e);
        }
        catch
        {
            server.Dispose();
            throw;
        }

        _server = server;
        // MQTTnet writes the port the socket actually bound back into the endpoint options.
        Port = options.DefaultEndpointOptions.Port;
        MqttLog.BrokerStarted(_logger, Port);
    }

    /// <summary>Stops the broker, dropping its clients and sessions.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var server = _server;
        _server = null;
        if (server is null)
        {
            return;
        }

        try
        {
            await server.StopAsync().ConfigureAwait(false);
        }
        finally
        {
            server.Dispose();
            MqttLog.BrokerStopped(_logger, Port);
        }
    }
}
