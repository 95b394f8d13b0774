using System.Collections.Concurrent;
using System.Text.Json;
using Became.Agent.Hosting;
using Became.Agent.Deployment;
using Became.Agent.Serving;
using Became.Agent.Storage;
using Became.Core.Data;
using Became.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Testing;

/// <summary>Runs a real agent host in-process (real broker, real LiteDB in a temp folder) and watches its events.</summary>
public sealed class AgentHarness : IAsyncDisposable
{
    private static readonly Lazy<ImageClassificationDataset> Dataset = new(() => ImageClassificationDataset.Load());
    private readonly ConcurrentQueue<JsonElement> _events = new();
    private readonly IMqttClient _observer;
    private IHost? _host;

    private string[] _extraArgs = [];
    private Action<IServiceCollection>? _services;

    private AgentHarness(string dataDirectory, string deviceId, IMqttClient observer)
    {
        DataDirectory = dataDirectory;
        DeviceId = deviceId;
        _observer = observer;
    }

    public string DataDirectory { get; }

    public string DeviceId { get; }

    public string BrokerHost { get; private set; } = "127.0.0.1";

    public int BrokerPort { get; private set; }

    public IHost Host => _host ?? throw new InvalidOperationException("The agent is not running.");

    public IReadOnlyList<JsonElement> Events => _events.ToArray();

    /// <summary>Starts an agent on the embedded broker (externalPort null) or on an external broker.</summary>
    /// <param name="services">Extra registrations, e.g. an injected storage fault.</param>
    public static async Task<AgentHarness> StartAsync(int? externalPort = null, string? dataDirectory = null, string? deviceId = null, int epochs = 2, Action<IServiceCollection>? services = null, params string[] extraArgs)
    {
        var harness = new AgentHarness(
            dataDirectory ?? Directory.CreateTempSubdirectory("became-agent-").FullName,
            deviceId ?? "dev" + Guid.NewGuid().ToString("N")[..8],
            new MqttClientFactory().CreateMqttClient());
        harness._extraArgs = extraArgs;
        harness._services = services;
        await harness.StartAgentAsync(externalPort, epochs);
        await harness.ObserveAsync();
        return harness;
    }

    /// <summary>Starts (again) the agent process-equivalent on the same data folder.</summary>
    public async Task StartAgentAsync(int? externalPort, int epochs = 2)
    {
        var args = new List<string>
        {
            $"--DeviceId={DeviceId}",
            $"--DataDirectory={DataDirectory}",
            $"--Training:Epochs={epochs}",
            "--Training:Threads=1",
            "--ShutdownSeconds=10",
        };
        args.AddRange(_extraArgs);
        if (externalPort is int port)
        {
            args.Add($"--Broker:Host=127.0.0.1");
            args.Add($"--Broker:Port={port}");
        }
        else
        {
            args.Add("--Broker:EmbeddedPort=0");
        }

        _host = AgentHost.Build([.. args], _services);
        await _host.StartAsync();
        var endpoint = _host.Services.GetRequiredService<BrokerEndpoint>();
        BrokerHost = endpoint.Host;
        BrokerPort = endpoint.Port;
    }

    public async Task StopAgentAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync();
            _host.Dispose();
            _host = null;
        }
    }

    /// <summary>Stops the agent and starts it again on the same data (and re-attaches the event observer).</summary>
    public async Task RestartAsync(int? externalPort = null, int epochs = 2)
    {
        await StopAgentAsync();
        await StartAgentAsync(externalPort, epochs);
        await DisconnectObserverAsync();
        await ObserveAsync();
    }

    public AgentStore Store => Host.Services.GetRequiredService<AgentStore>();

    public DeployedModel Deployed => Host.Services.GetRequiredService<DeployedModel>();

    /// <summary>A split-fmnist task payload of the first <paramref name="samples"/> training images of classes {2t, 2t+1}.</summary>
    public static byte[] SplitTask(int task, int samples) =>
        TaskFiles.SplitFashionMnist(Dataset.Value, [task], samples)[0].Payload;

    public Task PublishTaskAsync(string taskId, byte[] payload) =>
        TaskPublisher.PublishAsync(BrokerHost, BrokerPort, "became", DeviceId, [(taskId, payload)], TextWriter.Null, CancellationToken.None);

    /// <summary>Waits (polling with a deadline) for an event matching the predicate.</summary>
    public async Task<JsonElement> WaitForEventAsync(Func<JsonElement, bool> match, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var e in _events)
            {
                if (match(e))
                {
                    return e;
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"No {what} within {timeout.TotalSeconds} s. Events seen: {string.Join(" | ", _events.Select(e => e.GetRawText()))}");
    }

    public Task<JsonElement> WaitForAsync(string type, string taskId, TimeSpan? timeout = null) =>
        WaitForEventAsync(e => e.GetProperty("type").GetString() == type && e.GetProperty("taskId").GetString() == taskId, timeout ?? TimeSpan.FromSeconds(120), $"{type} for {taskId}");

    /// <summary>Reads the retained status with a fresh subscription (what a newcomer would see).</summary>
    public async Task<JsonElement> ReadStatusAsync()
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(JsonDocument.Parse(e.ApplicationMessage.ConvertPayloadToString()).RootElement.Clone());
            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(BrokerHost, BrokerPort).WithProtocolVersion(MqttProtocolVersion.V500).WithClientId("status-" + Guid.NewGuid().ToString("N")).Build());
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter($"became/{DeviceId}/status", MqttQualityOfServiceLevel.AtLeastOnce).Build());
        var status = await received.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await client.DisconnectAsync();
        return status;
    }

    public static string Type(JsonElement e) => e.GetProperty("type").GetString()!;

    /// <summary>Ends the observer's session. When the agent (and with it the embedded broker) has stopped, the
    /// client may not have noticed the closed socket yet, and its DISCONNECT meets a broken pipe: nothing to end.</summary>
    private async Task DisconnectObserverAsync()
    {
        if (!_observer.IsConnected)
        {
            return;
        }

        try
        {
            await _observer.DisconnectAsync();
        }
        catch (MqttCommunicationException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DisconnectObserverAsync();
        _observer.Dispose();
        await StopAgentAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private bool _observing;

    private async Task ObserveAsync()
    {
        if (!_observing)
        {
            _observing = true;
            _observer.ApplicationMessageReceivedAsync += e =>
            {
                _events.Enqueue(JsonDocument.Parse(e.ApplicationMessage.ConvertPayloadToString()).RootElement.Clone());
                return Task.CompletedTask;
            };
        }

        await _observer.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(BrokerHost, BrokerPort).WithProtocolVersion(MqttProtocolVersion.V500).WithClientId("observer-" + Guid.NewGuid().ToString("N")).Build());
        await _observer.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter($"became/{DeviceId}/events", MqttQualityOfServiceLevel.AtLeastOnce).Build());
    }
}
