using System.Text;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Messaging;
using Became.Agent.Mqtt;
using Became.Agent.Protocol;
using Became.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Hosting;

/// <summary>The broker the agent talks to: an external one from the settings, or the embedded one it starts.</summary>
public sealed class BrokerEndpoint(IOptions<AgentOptions> options, ILoggerFactory loggers) : IAsyncDisposable
{
    private readonly AgentOptions _options = options.Value;

    // Port 0 asks for any free port; it is fixed here so the connection settings are known before the broker starts.
    private readonly int _embeddedPort = options.Value.Broker.EmbeddedPort == 0 ? FreePort() : options.Value.Broker.EmbeddedPort;

    /// <summary>The embedded broker, once started (null with an external broker).</summary>
    public EmbeddedBroker? Embedded { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.Broker.IsEmbedded && Embedded is null)
        {
            Embedded = new EmbeddedBroker(_embeddedPort, loggers.CreateLogger<EmbeddedBroker>());
            await Embedded.StartAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public string Host => _options.Broker.IsEmbedded ? "127.0.0.1" : _options.Broker.Host!;

    public int Port => _options.Broker.IsEmbedded ? _embeddedPort : _options.Broker.Port;

    public MqttConnectionOptions ConnectionOptions() => new()
    {
        Host = Host,
        Port = Port,
        UseTls = _options.Broker.UseTls,
        CaFile = _options.Broker.CaFile,
        ClientCertificateFile = _options.Broker.ClientCertificateFile,
        ClientKeyFile = _options.Broker.ClientKeyFile,
        FailOnStartRefusal = true,
        ReconnectMax = TimeSpan.FromSeconds(_options.Broker.ReconnectMaxSeconds),
        MaximumPacketSize = MaximumPacketSize(_options.Limits),
        Username = _options.Broker.Username,
        Password = _options.Broker.Password,
        ClientId = _options.Broker.ClientId ?? $"became-{_options.DeviceId}",
        WillTopic = _options.Topic(Topics.Status),
        WillPayload = Encoding.UTF8.GetString(AgentEvents.OfflineStatus(groups: _options.Groups, deviceId: _options.DeviceId)),
        WillRetain = true,
        Subscriptions = [_options.Topic(Topics.TasksFilter), _options.Topic(Topics.ModelsPull), _options.Topic(Topics.Infer), _options.Topic(Topics.Rollback), _options.Topic(Topics.Adopt),
            .. _options.Groups.Select(g => _options.GroupTopic(g, Topics.TasksFilter))],
    };

    /// <summary>
    /// Told to the broker (MQTT 5 Maximum Packet Size) so it never sends a packet that large: the client would have to
    /// allocate it whole before any check. Up to twice the payload limits still arrive, to be answered with too_large.
    /// </summary>
    internal static uint MaximumPacketSize(LimitOptions limits) =>
        (uint)Math.Min(268_435_455L, 2 * Math.Max(limits.MaxPayloadBytes, limits.MaxRequestBytes) + 65_536);

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (Embedded is not null)
        {
            await Embedded.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Starts the broker (when embedded) and the connection, routes task messages to the intake, keeps the
/// retained status true after every (re)connect, and says offline before a clean stop.</summary>
public sealed class MessagingService(
    BrokerEndpoint endpoint,
    MqttConnection connection,
    AgentEvents events,
    TaskIntake intake,
    Serving.ModelRequests requests,
    StartupDeployment startup,
    DeviceStatus status,
    Storage.AgentStore store,
    IOptions<AgentOptions> options,
    ILogger<MessagingService> logger) : IHostedService
{
    // Everything the agent acts on lies under became/{DeviceId}/.
    private readonly string _deviceRoot = options.Value.Topic(string.Empty);

    private bool _started;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (store.RemovedOrphans > 0)
        {
            logger.LogWarning("Removed {Count} unreferenced blob files left by an interrupted commit", store.RemovedOrphans);
        }

        startup.Load();
        await endpoint.StartAsync(cancellationToken).ConfigureAwait(false);
        connection.MessageHandler = RouteAsync;
        connection.Connected = OnConnectedAsync;
        connection.MessageDropped = events.ReportDroppedAsync;
        _started = true;
        try
        {
            await connection.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (MqttConnectionRefusedException e)
        {
            logger.LogCritical("Cannot start: {Message} Check {Settings}. Not retrying: the same settings would be refused again.", e.Message, BrokerRefusal.Settings(e.Reason));
            throw;
        }

        // The broker's address is in the connection's own line just before.
        logger.LogInformation("MQTT: listening on {Topic}", intake.TopicFilter);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_started)
        {
            try
            {
                await events.PublishStatusAsync(status.Current(AgentState.Offline), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not publish the offline status");
            }

            try
            {
                await requests.StopAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                logger.LogWarning("An adoption in flight did not end within the shutdown time");
            }

            await connection.DisposeAsync().ConfigureAwait(false);
        }

        await endpoint.DisposeAsync().ConfigureAwait(false);
    }

    private async Task RouteAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        if (intake.IsGroupTask(message.Topic))
        {
            await intake.HandleAsync(message, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (!message.Topic.StartsWith(_deviceRoot, StringComparison.Ordinal))
        {
            // Only a stale session can deliver these (same Broker:ClientId, earlier DeviceId): never act for another device.
            logger.LogWarning("Ignored a message on {Topic}: not under this device's topics {Root}#", message.Topic, _deviceRoot);
            await message.AcknowledgeAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        await (requests.Handles(message.Topic) ? requests.HandleAsync(message, cancellationToken) : intake.HandleAsync(message, cancellationToken)).ConfigureAwait(false);
    }

    private Task OnConnectedAsync(CancellationToken cancellationToken) =>
        events.PublishStatusAsync(status.Current(), cancellationToken);
}
