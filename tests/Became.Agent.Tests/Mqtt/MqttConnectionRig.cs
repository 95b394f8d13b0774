using System.Text;
using Became.Agent.Mqtt;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Mqtt;

/// <summary>Brokers and connections for the connection supervisor's tests, disposed after each test.</summary>
public abstract class MqttConnectionRig : IAsyncLifetime
{
    private protected const string StatusTopic = "became/dev/status";
    private protected const string Offline = """{"state":"offline"}""";
    private protected readonly TestLoggerProvider _logs;
    private protected readonly ILoggerFactory _loggers;
    private protected readonly List<MqttConnection> _connections = [];
    private protected ITestBroker? _broker;

    protected MqttConnectionRig(ITestOutputHelper output)
    {
        _logs = new TestLoggerProvider(output);
        _loggers = _logs.CreateFactory();
    }

    private protected ITestBroker Broker => _broker ?? throw new InvalidOperationException("Start a broker first.");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }

        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        _loggers.Dispose();
    }

    private protected static ReadOnlyMemory<byte> Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private protected static string Text(MqttIncomingMessage message) => Encoding.UTF8.GetString(message.Payload.Span);

    private protected static MqttConnectionOptions Options(string clientId, int port, bool will = false, params string[] subscriptions) => new()
    {
        Host = "127.0.0.1",
        Port = port,
        ClientId = clientId,
        KeepAlive = TimeSpan.FromSeconds(5),
        ReconnectMin = TimeSpan.FromMilliseconds(50),
        ReconnectMax = TimeSpan.FromMilliseconds(400),
        HealthCheckInterval = TimeSpan.FromMilliseconds(200),
        OperationTimeout = TimeSpan.FromSeconds(5),
        WillTopic = will ? StatusTopic : null,
        WillPayload = will ? Offline : null,
        Subscriptions = subscriptions,
    };

    /// <summary>Both brokers log a client's departure (mosquitto on its output, the embedded one at Debug).</summary>
    private protected bool BrokerLoggedDisconnect(string clientId) => _logs.Entries.Any(e =>
        e.Message.Contains($"client {clientId} disconnected", StringComparison.OrdinalIgnoreCase)
        || e.Message.Contains($"Client {clientId} closed its connection", StringComparison.Ordinal));

    private protected async Task StartBrokerAsync(BrokerKind kind) => _broker = await TestBrokers.StartAsync(kind, _loggers);

    private protected async Task<MqttConnection> StartAsync(
        string clientId,
        Func<MqttIncomingMessage, CancellationToken, Task>? handler = null,
        params string[] subscriptions) => await StartAsync(clientId, handler, will: false, subscriptions);

    private protected async Task<MqttConnection> StartAsync(
        string clientId,
        Func<MqttIncomingMessage, CancellationToken, Task>? handler,
        bool will,
        params string[] subscriptions)
    {
        var connection = new MqttConnection(Options(clientId, Broker.Port, will, subscriptions), _loggers.CreateLogger<MqttConnection>())
        {
            MessageHandler = handler,
        };
        _connections.Add(connection);
        await connection.StartAsync(CancellationToken.None);
        return connection;
    }

    private protected async Task<MqttConnection> StartOnAsync(int port, string clientId, Func<MqttIncomingMessage, CancellationToken, Task>? handler, params string[] subscriptions)
    {
        var connection = new MqttConnection(Options(clientId, port, will: false, subscriptions), _loggers.CreateLogger<MqttConnection>())
        {
            MessageHandler = handler,
        };
        _connections.Add(connection);
        await connection.StartAsync(CancellationToken.None);
        return connection;
    }

    private protected async Task StopAsync(MqttConnection connection)
    {
        _connections.Remove(connection);
        await connection.DisposeAsync();
    }
}
