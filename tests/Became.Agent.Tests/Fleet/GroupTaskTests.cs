using Became.Agent.Configuration;
using Became.Agent.Hosting;
using Became.Protocol;

namespace Became.Agent.Tests.Fleet;

/// <summary>Setting Groups: the agent also takes became/groups/{group}/tasks/{taskId}, by the device topic's rules.</summary>
[Trait("Speed", "Slow")]
public sealed class GroupTaskTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    private static Task PublishToGroupAsync(AgentHarness agent, string group, string taskId, byte[] payload) =>
        TaskPublisher.PublishAsync(agent.BrokerHost, agent.BrokerPort, "became", $"groups/{group}", [(taskId, payload)], TextWriter.Null, CancellationToken.None);

    [Fact]
    public async Task Group_task_is_learned_once_and_the_same_task_on_the_device_topic_is_a_duplicate()
    {
        await using var agent = await AgentHarness.StartAsync(epochs: 1, extraArgs: ["--Groups:0=line-1", "--Groups:1=hall-b"]);
        byte[] payload = AgentHarness.SplitTask(0, 200);

        await PublishToGroupAsync(agent, "hall-b", "g0", payload);
        var accepted = await agent.WaitForAsync("task.accepted", "g0", Patience);
        Assert.Equal("hall-b", accepted.GetProperty("group").GetString());
        Assert.Equal(1, (await agent.WaitForAsync("model.deployed", "g0", Patience)).GetProperty("version").GetInt32());

        // The same id and content again, once on the device's own topic and once on its other group's: one task.
        await agent.PublishTaskAsync("g0", payload);
        await PublishToGroupAsync(agent, "line-1", "g0", payload);
        await agent.WaitForEventAsync(e => AgentHarness.Type(e) == "task.duplicate" && e.GetProperty("taskId").GetString() == "g0" && agent.Events.Count(d => AgentHarness.Type(d) == "task.duplicate") == 2, Patience, "two task.duplicate for g0");
        Assert.Single(agent.Events, e => AgentHarness.Type(e) == "task.accepted");
        Assert.Single(agent.Events, e => AgentHarness.Type(e) == "model.deployed");

        var status = await agent.ReadStatusAsync();
        Assert.Equal(["line-1", "hall-b"], status.GetProperty("groups").EnumerateArray().Select(g => g.GetString()));
    }

    [Fact]
    public async Task Tasks_of_a_group_the_device_is_not_in_are_not_taken()
    {
        await using var agent = await AgentHarness.StartAsync(epochs: 1, extraArgs: ["--Groups:0=line-1"]);

        await PublishToGroupAsync(agent, "line-2", "other", AgentHarness.SplitTask(0, 200));
        await PublishToGroupAsync(agent, "line-1", "mine", AgentHarness.SplitTask(1, 200));
        await agent.WaitForAsync("model.deployed", "mine", Patience);

        Assert.DoesNotContain(agent.Events, e => e.GetProperty("taskId").ValueKind == System.Text.Json.JsonValueKind.String && e.GetProperty("taskId").GetString() == "other");
        Assert.Equal(["mine"], agent.Store.AllTasks().Select(t => t.Id));
    }

    [Fact]
    public async Task A_group_left_by_the_device_delivers_nothing_through_its_persistent_session()
    {
        // The broker keeps the session's subscriptions (clean start off), so the old group's tasks still arrive after
        // Groups changed: the agent must drop them, not learn them.
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        string deviceId = "dev" + Guid.NewGuid().ToString("N")[..8];
        await using (await AgentHarness.StartAsync(broker.Port, deviceId: deviceId, epochs: 1, extraArgs: ["--Groups:0=old-line"]))
        {
        }

        await using var agent = await AgentHarness.StartAsync(broker.Port, deviceId: deviceId, epochs: 1, extraArgs: ["--Groups:0=new-line"]);
        await PublishToGroupAsync(agent, "old-line", "stale", AgentHarness.SplitTask(0, 200));
        await PublishToGroupAsync(agent, "new-line", "fresh", AgentHarness.SplitTask(1, 200));
        await agent.WaitForAsync("model.deployed", "fresh", Patience);

        Assert.Equal(["fresh"], agent.Store.AllTasks().Select(t => t.Id));
        Assert.DoesNotContain(agent.Events, e => e.GetProperty("taskId").ValueKind == System.Text.Json.JsonValueKind.String && e.GetProperty("taskId").GetString() == "stale");
    }

    [Fact]
    public async Task A_device_without_groups_has_no_groups_in_its_status()
    {
        await using var agent = await AgentHarness.StartAsync(epochs: 1);
        Assert.False((await agent.ReadStatusAsync()).TryGetProperty("groups", out _));
    }
}

/// <summary>Groups is validated at start-up: each a single topic level, no wildcards, no repeats.</summary>
public sealed class GroupSettingTests
{
    [Theory]
    [InlineData("line+1")]
    [InlineData("hall/b")]
    [InlineData("#")]
    [InlineData("$SYS")]
    [InlineData("")]
    public void A_group_that_is_not_one_plain_topic_level_is_refused(string group)
    {
        var result = new AgentOptionsValidator().Validate(null, Options(o => o.Groups = [group]));
        Assert.True(result.Failed);
        Assert.Contains("Groups:", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void A_group_named_twice_is_refused()
    {
        var result = new AgentOptionsValidator().Validate(null, Options(o => o.Groups = ["line-1", "Line-1"]));
        Assert.Contains("Groups names a group twice", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void DeviceId_groups_is_reserved_for_the_group_topics()
    {
        var result = new AgentOptionsValidator().Validate(null, Options(o => o.DeviceId = "groups"));
        Assert.Contains("DeviceId 'groups' is reserved", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Groups_are_a_known_setting_list()
    {
        Assert.True(SettingKeys.IsKnown("Groups:0"));
        Assert.True(new AgentOptionsValidator().Validate(null, Options(o => o.Groups = ["line-1", "hall_b.2"])).Succeeded);
    }

    private static AgentOptions Options(Action<AgentOptions> change)
    {
        var options = new AgentOptions();
        new AgentOptionsDefaults().PostConfigure(null, options);
        change(options);
        return options;
    }
}
