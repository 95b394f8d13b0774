using System.Text;
using Became.Agent.Hosting;
using Became.Agent.Tests.Fleet;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Agent.Tests.Security;

/// <summary>deploy/fleet's ACL and password recipe on a real mosquitto: each device publishes only under its own
/// topics, so one device can neither overwrite another's retained status nor send it tasks or commands; the operator
/// can; and agents work normally under it (status, last will, events, group tasks, replies).</summary>
[Trait("Speed", "Slow")]
public sealed class FleetAclTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);
    private static readonly string FleetDeploy = Path.Combine(ToolProcess.RepositoryRoot, "deploy", "fleet");
    private readonly string _directory = Directory.CreateTempSubdirectory("became-fleet-acl-").FullName;
    private readonly List<IHost> _agents = [];
    private ITestBroker? _broker;

    public async Task InitializeAsync()
    {
        // The shipped ACL, with the shipped scripts adding two devices of group line-1 and an operator.
        File.Copy(Path.Combine(FleetDeploy, "acl"), Path.Combine(_directory, "acl"));
        await AddAsync("add-device.sh", "DEVICE_PASSWORD", "secret-a", "dev-a", "line-1");
        await AddAsync("add-device.sh", "DEVICE_PASSWORD", "secret-b", "dev-b", "line-1");
        await AddAsync("add-operator.sh", "OPERATOR_PASSWORD", "secret-op", "op");
        _broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance, $"""
            allow_anonymous false
            password_file {_directory}/passwd
            acl_file {_directory}/acl
            """);
    }

    public async Task DisposeAsync()
    {
        foreach (var agent in _agents)
        {
            await agent.StopAsync();
            agent.Dispose();
        }

        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_device_cannot_touch_another_devices_topics_while_the_operator_and_the_agents_work_normally()
    {
        int port = _broker!.Port;
        await StartAgentAsync("dev-a", "secret-a");
        await StartAgentAsync("dev-b", "secret-b");
        await using var op = await FleetObserver.ConnectAsync(port, "op", "secret-op");
        await op.UntilAsync(() => op.Statuses.Count == 2 && op.Statuses.Values.All(s => s.GetProperty("state").GetString() == "idle"), Patience, "both devices idle");

        // dev-a's credentials, as a second client of a compromised device A.
        using var attacker = new MqttClientFactory().CreateMqttClient();
        await attacker.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId("attacker").WithCredentials("dev-a", "secret-a").Build());
        var forged = await attacker.PublishAsync(Message("became/dev-b/status", """{"state":"offline","deployedVersion":99}""", retain: true));
        var task = await attacker.PublishAsync(Message("became/dev-b/tasks/evil", Encoding.ASCII.GetString(AgentHarness.SplitTask(0, 200))));
        var rollback = await attacker.PublishAsync(Message("became/dev-b/cmd/rollback", """{"version":1}"""));
        var groupTask = await attacker.PublishAsync(Message("became/groups/line-1/tasks/evil-group", "x"));
        Assert.All([forged, task, rollback, groupTask], r => Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, r.ReasonCode));

        // The operator sends the group a task: both devices learn it (they read the group topic, publish events and status).
        var published = await op.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("became/groups/line-1/tasks/g0")
            .WithPayload(AgentHarness.SplitTask(1, 200)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(published.IsSuccess, published.ReasonCode.ToString());
        await op.UntilAsync(() => op.Of("model.deployed", "g0").Count == 2, Patience, "model.deployed for g0 on both devices");

        // dev-b's status is its own (nobody overwrote it), and nothing the attacker sent reached it.
        await using (var fresh = await FleetObserver.ConnectAsync(port, "op", "secret-op"))
        {
            await fresh.UntilAsync(() => fresh.Statuses.ContainsKey("dev-b"), Patience, "dev-b's retained status");
            Assert.Equal(1, fresh.Statuses["dev-b"].GetProperty("deployedVersion").GetInt32());
        }

        Assert.DoesNotContain(op.Events, e => FleetObserver.TaskId(e.Event) is "evil" or "evil-group");

        // A request from the operator, answered under the device's own topics (the only ones it may publish on).
        var reply = await RequestAsync(op.Client, "dev-b", "models/pull");
        Assert.Equal("1", reply.UserProperties?.FirstOrDefault(p => p.Name == "version")?.ReadValueAsString());

        // Nor read another device's tasks: mosquitto grants the subscription but checks each message against the ACL.
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
        attacker.ApplicationMessageReceivedAsync += e =>
        {
            seen.Enqueue(e.ApplicationMessage.Topic);
            return Task.CompletedTask;
        };
        await attacker.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("became/+/tasks/#", MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await op.Client.PublishAsync(Message("became/dev-b/tasks/for-b", "not a task"));
        await op.Client.PublishAsync(Message("became/dev-a/tasks/for-a", "not a task"));
        await op.UntilAsync(() => seen.Contains("became/dev-a/tasks/for-a"), Patience, "device A's own task at A's second client");
        Assert.DoesNotContain("became/dev-b/tasks/for-b", seen);
        await attacker.DisconnectAsync();
    }

    [Fact]
    public async Task A_device_adopts_a_peers_model_under_the_acl_through_replies_only_the_peer_may_publish()
    {
        int port = _broker!.Port;
        await StartAgentAsync("dev-a", "secret-a");
        await StartAgentAsync("dev-b", "secret-b");
        await using var op = await FleetObserver.ConnectAsync(port, "op", "secret-op");
        await op.UntilAsync(() => op.Statuses.Count == 2, Patience, "both devices' status");
        await op.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("became/dev-a/tasks/a0")
            .WithPayload(AgentHarness.SplitTask(0, 200)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await op.UntilAsync(() => op.Of("model.deployed", "a0").Contains("dev-a"), Patience, "model.deployed for a0 on dev-a");

        // dev-b asks dev-a over became/dev-a/models/pull; dev-a may answer only under became/dev-a/replies/dev-b/...
        var reply = await RequestAsync(op.Client, "dev-b", "cmd/adopt", """{"from": "dev-a"}""");

        Assert.Null(reply.UserProperties?.FirstOrDefault(p => p.Name == "error")?.ReadValueAsString());
        await op.UntilAsync(() => op.Events.Any(e => e.Device == "dev-b" && FleetObserver.Type(e.Event) == "model.deployed" && e.Event.TryGetProperty("adoptedFrom", out _)), Patience, "dev-b's model.deployed with adoptedFrom");
    }

    [Fact]
    public async Task A_device_with_a_wrong_password_is_refused_at_start()
    {
        var result = await BecameCommand.RunProcessAsync(["run", "--DeviceId=dev-a", $"--DataDirectory={Path.Combine(_directory, "wrong")}", "--Broker:Host=127.0.0.1", $"--Broker:Port={_broker!.Port}", "--Broker:Username=dev-a", "--Broker:Password=wrong"]);
        Assert.True(result.Code == 78, $"exit {result.Code}\n{result.Error}\n{result.Output}");
    }

    private async Task AddAsync(string script, string passwordVariable, string password, params string[] args)
    {
        var result = await ToolProcess.RunAsync("sh", [Path.Combine(FleetDeploy, script), .. args], TimeSpan.FromSeconds(60), new Dictionary<string, string?>
        {
            ["PASSWD_FILE"] = Path.Combine(_directory, "passwd"),
            ["ACL_FILE"] = Path.Combine(_directory, "acl"),
            [passwordVariable] = password,
        });
        Assert.True(result.ExitCode == 0, $"{script} {string.Join(' ', args)}: exit {result.ExitCode}\n{result.Output}\n{result.Error}");
    }

    private async Task StartAgentAsync(string deviceId, string password)
    {
        var host = AgentHost.Build(
        [
            $"--DeviceId={deviceId}",
            $"--DataDirectory={Path.Combine(_directory, deviceId)}",
            "--Broker:Host=127.0.0.1",
            $"--Broker:Port={_broker!.Port}",
            $"--Broker:Username={deviceId}",
            $"--Broker:Password={password}",
            "--Groups:0=line-1",
            "--Training:Epochs=1",
            "--Training:Threads=1",
            "--ShutdownSeconds=10",
        ]);
        await host.StartAsync();
        _agents.Add(host);
    }

    private static MqttApplicationMessage Message(string topic, string payload, bool retain = false) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithRetainFlag(retain).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();

    private static async Task<MqttApplicationMessage> RequestAsync(IMqttClient client, string device, string suffix, string? payload = null)
    {
        string responseTopic = $"became/{device}/replies/op/{Guid.NewGuid():N}";
        byte[] correlation = Guid.NewGuid().ToByteArray();
        var reply = new TaskCompletionSource<MqttApplicationMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Topic == responseTopic)
            {
                reply.TrySetResult(e.ApplicationMessage);
            }

            return Task.CompletedTask;
        };
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(responseTopic, MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"became/{device}/{suffix}").WithPayload(payload ?? string.Empty).WithResponseTopic(responseTopic)
            .WithCorrelationData(correlation).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        return await reply.Task.WaitAsync(Patience);
    }
}
