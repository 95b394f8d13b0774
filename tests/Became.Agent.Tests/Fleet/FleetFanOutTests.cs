using System.Diagnostics;
using System.Globalization;
using Became.Cli;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Fleet;

/// <summary>
/// Ten real agents in one group on loopback brokers: one <c>became publish --group</c> reaches every device, each learns
/// the task exactly once; a device killed mid-task learns it once after its restart; <c>became fleet status</c> lists the
/// fleet (the killed device offline by its last will, then back). Measures the time from the publication to the last
/// <c>model.deployed</c>, the broker's messages ($SYS) and the agents' total memory.
/// </summary>
[Trait("Speed", "Slow")]
[Trait("Category", "Fleet")]
public sealed class FleetFanOutTests(ITestOutputHelper output)
{
    private const int Agents = 10;
    private const string Group = "line-1";
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    // $SYS every second, so the message counters can be read right before and after the fan-out.
    private const string SysEverySecond = "sys_interval 1";

    [Fact]
    public async Task One_group_publish_reaches_ten_agents_on_one_mosquitto_and_a_killed_agent_learns_it_once_after_restart()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance, SysEverySecond);
        await using var observer = await FleetObserver.ConnectAsync(broker.Port, sys: true);
        var members = Enumerable.Range(0, Agents).Select(i => new FleetMember($"cam-{i:D2}", broker.Port, Group)).ToList();
        try
        {
            await StartAllAsync(observer, members);
            var first = await FanOutAsync(observer, [broker], members, 0, "fleet");
            Report("one mosquitto", first, members);

            // A second task; one device is held in its stage 2, killed there, and started again.
            var victim = members[3];
            await victim.KillAsync();
            await observer.UntilAsync(() => State(observer, victim.DeviceId) == "offline", Patience, $"{victim.DeviceId} offline");
            victim.Start(pauseAt: "stage2:fleet-1");
            await observer.UntilAsync(() => State(observer, victim.DeviceId) == "idle", Patience, $"{victim.DeviceId} back (paused run)");
            Assert.Equal(0, await PublishGroupAsync(broker.Port, 1));
            await observer.UntilAsync(() => File.Exists(victim.PauseMarker), Patience, $"{victim.DeviceId} in stage 2 of fleet-1");
            await victim.KillAsync();
            await observer.UntilAsync(() => State(observer, victim.DeviceId) == "offline", Patience, $"{victim.DeviceId}'s last will");

            string whileDown = await FleetStatusAsync(broker.Port, "--group", Group);
            output.WriteLine($"became fleet status --group {Group} (cam-03 killed):\n{whileDown}");
            Assert.Matches($@"^{victim.DeviceId}\s+offline\s+-\s+-\s+-\s+{Group}\s+offline \(last will", Assert.Single(Line(whileDown, victim.DeviceId)));
            Assert.Contains($"{Agents} devices: {Agents - 1} online, 1 offline", whileDown, StringComparison.Ordinal);

            victim.Start();
            await observer.UntilAsync(() => observer.Of("model.deployed", "fleet-1").Count == Agents, Patience, "model.deployed for fleet-1 on every device");
            Assert.All(members, m => Assert.Single(observer.Of("model.deployed", "fleet-1")[m.DeviceId]));
            Assert.Equal(2, observer.Of("model.deployed", "fleet-1")[victim.DeviceId].Single().Event.GetProperty("version").GetInt32());
            Assert.Contains(observer.Events, e => e.Device == victim.DeviceId && FleetObserver.Type(e.Event) == "job.interrupted");

            await observer.UntilAsync(() => members.All(m => State(observer, m.DeviceId) == "idle"), Patience, "every device idle");
            string after = await FleetStatusAsync(broker.Port);
            output.WriteLine($"became fleet status (after the restart):\n{after}");
            foreach (var member in members)
            {
                string line = Assert.Single(Line(after, member.DeviceId));
                Assert.Matches($@"^{member.DeviceId}\s+idle\s+2\s+0\s+2\s+{Group}\s", line);
            }
        }
        finally
        {
            await DisposeAllAsync(members);
        }
    }

    [Fact]
    public async Task One_group_publish_reaches_ten_agents_split_between_two_bridged_mosquittos()
    {
        await using var central = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance, SysEverySecond);
        await using var site = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance, $"""
            {SysEverySecond}
            connection central
            address 127.0.0.1:{central.Port}
            topic became/# both 1
            cleansession false
            """);
        await using var observer = await FleetObserver.ConnectAsync(central.Port, sys: true);
        await using var siteObserver = await FleetObserver.ConnectAsync(site.Port, sys: true);
        var members = Enumerable.Range(0, Agents).Select(i => new FleetMember($"cam-{i:D2}", i % 2 == 0 ? central.Port : site.Port, Group)).ToList();
        try
        {
            // Every device's retained status reaches the central broker through the bridge.
            await StartAllAsync(observer, members);
            var figures = await FanOutAsync(observer, [central, site], members, 0, "fleet", siteObserver);
            Report("two bridged mosquittos", figures, members);

            string status = await FleetStatusAsync(central.Port, "--group", Group);
            output.WriteLine($"became fleet status at the central broker:\n{status}");
            Assert.All(members, m => Assert.Single(Line(status, m.DeviceId)));
        }
        finally
        {
            await DisposeAllAsync(members);
        }
    }

    private sealed record FanOut(TimeSpan PublishToMedianAccepted, TimeSpan PublishToLastAccepted, TimeSpan PublishToLastDeployed, double MedianTrainingSeconds, long Received, long Sent);

    private async Task StartAllAsync(FleetObserver observer, List<FleetMember> members)
    {
        var started = Stopwatch.StartNew();
        foreach (var member in members)
        {
            member.Start();
        }

        await observer.UntilAsync(() => members.All(m => State(observer, m.DeviceId) == "idle" || !m.Running), Patience, "every agent's live status");
        Assert.All(members, m => Assert.True(m.Running, $"{m.DeviceId} exited:\n{m.Output}"));
        output.WriteLine($"{members.Count} agents up in {started.Elapsed.TotalSeconds:F1} s");
    }

    // Publishes split-fmnist task `task` to the group with `became publish --group` and waits for every device's
    // model.deployed; counts each device's deployments of it and the brokers' messages meanwhile.
    private async Task<FanOut> FanOutAsync(FleetObserver observer, IReadOnlyList<ITestBroker> brokers, List<FleetMember> members, int task, string prefix, FleetObserver? siteObserver = null)
    {
        FleetObserver[] sys = siteObserver is null ? [observer] : [observer, siteObserver];
        await observer.UntilAsync(() => sys.All(o => o.Sys.ContainsKey("received") && o.Sys.ContainsKey("sent")), Patience, "$SYS message counters");
        long Total(string key) => sys.Sum(o => o.Sys[key]);
        long received = Total("received"), sent = Total("sent");

        string taskId = $"{prefix}-{task}";
        Assert.Equal(0, await PublishGroupAsync(brokers[0].Port, task, prefix));

        // Timed from the moment the broker passed the task on (not counting the publisher's loading of the data set).
        await observer.UntilAsync(() => observer.GroupTasks.ContainsKey(taskId), Patience, $"{taskId} on the group topic");
        var published = observer.GroupTasks[taskId];
        await observer.UntilAsync(() => observer.Of("model.deployed", taskId).Count == members.Count, Patience, $"model.deployed for {taskId} on every device");
        var deployed = observer.Of("model.deployed", taskId).SelectMany(g => g).ToList();
        var last = deployed.Max(e => e.Received);
        var accepted = observer.Of("task.accepted", taskId).SelectMany(g => g).Select(e => e.Received).Order().ToList();
        double[] training = [.. deployed.Select(e => e.Event.GetProperty("trainingSeconds").GetDouble()).Order()];
        Assert.All(members, m => Assert.Single(observer.Of("model.deployed", taskId)[m.DeviceId]));
        Assert.All(members, m => Assert.Equal(Group, Assert.Single(observer.Of("task.accepted", taskId)[m.DeviceId]).Event.GetProperty("group").GetString()));

        // The counters as of after the last deployment: the $SYS round more than a second later.
        await observer.UntilAsync(() => sys.All(o => o.SysReceived > last + TimeSpan.FromSeconds(1.5)), Patience, "a $SYS update after the fan-out");
        return new FanOut(accepted[accepted.Count / 2] - published, accepted[^1] - published, last - published, training[training.Length / 2], Total("received") - received, Total("sent") - sent);
    }

    private void Report(string setup, FanOut figures, List<FleetMember> members)
    {
        var memory = members.Select(m => m.Memory()).ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{setup}: {members.Count} agents; publish -> task.accepted median {figures.PublishToMedianAccepted.TotalSeconds:F2} s, last {figures.PublishToLastAccepted.TotalSeconds:F2} s; -> last model.deployed {figures.PublishToLastDeployed.TotalSeconds:F1} s (median trainingSeconds {figures.MedianTrainingSeconds:F1} s, all ten training at once on this machine's shared cores); broker messages received {figures.Received}, sent {figures.Sent} (all brokers, $SYS, including events and statuses); agents' RSS total {memory.Sum(m => m.Rss) / 1048576.0:F0} MiB (peak sum {memory.Sum(m => m.Peak) / 1048576.0:F0} MiB, {memory.Average(m => m.Rss) / 1048576.0:F0} MiB each)"));
    }

    private static async Task<int> PublishGroupAsync(int port, int task, string prefix = "fleet")
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = await BecameCli.RunAsync(["publish", "--broker", $"127.0.0.1:{port}", "--group", Group, "--stream", "split-fmnist", "--tasks", task.ToString(CultureInfo.InvariantCulture), "--samples", "200", "--id-prefix", prefix], stdout, stderr, CancellationToken.None);
        Assert.True(code == 0, $"became publish --group: exit {code}\n{stdout}\n{stderr}");
        return code;
    }

    private static async Task<string> FleetStatusAsync(int port, params string[] extra)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = await BecameCli.RunAsync(["fleet", "status", "--broker", $"127.0.0.1:{port}", .. extra], stdout, stderr, CancellationToken.None);
        Assert.True(code == 0, $"became fleet status: exit {code}\n{stdout}\n{stderr}");
        return stdout.ToString();
    }

    private static string[] Line(string table, string device) =>
        [.. table.Split('\n').Where(l => l.StartsWith(device + " ", StringComparison.Ordinal))];

    private static string? State(FleetObserver observer, string device) =>
        observer.Statuses.TryGetValue(device, out var s) ? s.GetProperty("state").GetString() : null;

    private static async Task DisposeAllAsync(List<FleetMember> members)
    {
        foreach (var member in members)
        {
            await member.DisposeAsync();
        }
    }
}
