using System.Diagnostics;
using Became.Agent.Jobs;
using Became.Agent.Mqtt;
using Became.Agent.Storage;
using Became.Agent.Tests.Agent;
using Became.Agent.Tests.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Reliability;

/// <summary>
/// mosquitto (persistence on) stopped for 10 s and started again on the same port, with the agent idle or training:
/// it reconnects by itself, loses no task, publishes what it produced offline, and its retained status is true again.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class BrokerOutageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(240);
    private readonly TestLoggerProvider _logs = new(output);
    private ILoggerFactory? _loggers;
    private ITestBroker? _broker;
    private AgentHarness? _agent;
    private EventWatcher? _watcher;

    private ITestBroker Broker => _broker!;

    private AgentHarness Agent => _agent!;

    private EventWatcher Watcher => _watcher!;

    private MqttConnection AgentConnection => Agent.Host.Services.GetRequiredService<MqttConnection>();

    public async Task InitializeAsync()
    {
        _loggers = _logs.CreateFactory();
        _broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, _loggers);
        // The deployment gate judges accuracy on tiny held-out sets here; it is not what these tests are about.
        _agent = await AgentHarness.StartAsync(_broker.Port, epochs: 5, extraArgs: ["--Gate:Enabled=false"]);
        _watcher = await EventWatcher.StartAsync(_broker.Port, _agent.DeviceId, _loggers);
    }

    public async Task DisposeAsync()
    {
        if (_watcher is not null)
        {
            await _watcher.DisposeAsync();
        }

        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        _loggers?.Dispose();
    }

    [Fact]
    public async Task Idle_agent_reconnects_after_a_10_s_broker_outage_and_learns_a_task_sent_before_it_was_back()
    {
        await Agent.PublishTaskAsync("idle-0", AgentHarness.SplitTask(0, 300));
        await Watcher.WaitForAsync("model.deployed", "idle-0", Patience);

        await Broker.StopAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => !AgentConnection.IsConnected, "the agent noticed the outage");
        await Task.Delay(Outage); // the fault itself: the broker stays down this long
        await Broker.StartAsync(CancellationToken.None);
        var back = Stopwatch.StartNew();

        // Sent while the agent is still backing off: its persistent session at the broker keeps the task for it.
        await Agent.PublishTaskAsync("idle-1", AgentHarness.SplitTask(1, 300));
        await Eventually.TrueAsync(() => AgentConnection.IsConnected, "the agent reconnected", TimeSpan.FromSeconds(40));
        output.WriteLine($"reconnected {back.Elapsed.TotalSeconds:F2} s after the broker came back (outage {Outage.TotalSeconds} s)");
        await Watcher.WaitForAsync("model.deployed", "idle-1", Patience);

        var status = await WaitForTrueStatusAsync(version: 2);
        Assert.Equal("idle", status.GetProperty("state").GetString());
        Assert.Equal(TaskState.Learned, Agent.Store.FindTask("idle-1")!.State);
        Assert.True(back.Elapsed < TimeSpan.FromSeconds(25), "reconnection is bounded by the backoff ceiling (Broker:ReconnectMaxSeconds, 10 s)");
    }

    [Fact]
    public async Task Agent_training_through_a_10_s_broker_outage_loses_no_task_and_publishes_its_offline_events_after_reconnect()
    {
        await Agent.PublishTaskAsync("busy-0", AgentHarness.SplitTask(0, 12000));
        await Agent.PublishTaskAsync("busy-1", AgentHarness.SplitTask(1, 300));
        var worker = Agent.Host.Services.GetRequiredService<TrainingWorker>();
        await Eventually.TrueAsync(() => worker.Status().State == "training", "the first job is training", Patience);

        await Broker.StopAsync(CancellationToken.None);
        var down = DateTimeOffset.UtcNow;
        Assert.True(Agent.Store.FindTask("busy-0")!.State != TaskState.Learned, "the outage began mid-training (if not, make busy-0 longer)");
        await Task.Delay(Outage); // the fault itself: the broker stays down this long
        int queuedWhileDown = AgentConnection.OutboxCount;
        await Broker.StartAsync(CancellationToken.None);
        var up = DateTimeOffset.UtcNow;

        var first = await Watcher.WaitForAsync("model.deployed", "busy-0", Patience);
        await Watcher.WaitForAsync("model.deployed", "busy-1", Patience);

        output.WriteLine($"outbox held {queuedWhileDown} messages at the end of the outage");
        Assert.True(queuedWhileDown > 0, "events produced while disconnected waited in the outbox");
        var offline = Watcher.Events.Where(e => e.Event.GetProperty("time").GetDateTimeOffset() is var t && t > down && t < up).ToList();
        Assert.NotEmpty(offline);
        Assert.All(offline, e => Assert.True(e.ReceivedAt >= up, "an event produced offline arrived only after the broker was back"));
        Assert.True(first.ReceivedAt >= up);
        var status = await WaitForTrueStatusAsync(version: 2);
        Assert.Equal(0, status.GetProperty("queueLength").GetInt32());
        Assert.Equal(2, status.GetProperty("tasksLearned").GetInt32());
        Assert.All(new[] { "busy-0", "busy-1" }, id => Assert.Equal(TaskState.Learned, Agent.Store.FindTask(id)!.State));
    }

    /// <summary>Polls the retained status (as a newcomer reads it) until it shows the deployed version and idle.</summary>
    private async Task<System.Text.Json.JsonElement> WaitForTrueStatusAsync(int version)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var status = await Agent.ReadStatusAsync();
            if (status.GetProperty("state").GetString() == "idle" && status.GetProperty("deployedVersion").GetInt32() == version)
            {
                return status;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The retained status did not become idle with version {version}: {status.GetRawText()}");
            }

            await Task.Delay(50);
        }
    }
}
