using System.Diagnostics;

// Not ...Tests.Hosting: that namespace would shadow Became.Agent.Hosting in tests that write Hosting.AgentHost.
namespace Became.Agent.Tests.HostingChecks;

/// <summary>The real agent process against a datagram socket given as NOTIFY_SOCKET, as systemd runs a Type=notify unit.</summary>
[Trait("Speed", "Slow")]
public sealed class SystemdNotifyProtocolTests : IDisposable
{
    private readonly NotifySocket _notify = new();

    private string SocketPath => _notify.Path;

    [Fact]
    public async Task Agent_says_ready_when_serving_pings_the_watchdog_and_says_stopping_on_sigterm()
    {
        await using var agent = AgentProcess.Start(Path.Combine(_notify.Directory, "data"), new Dictionary<string, string>
        {
            ["NOTIFY_SOCKET"] = SocketPath,
            ["WATCHDOG_USEC"] = "1000000",
        });
        var received = new List<string>();
        var deadline = Stopwatch.StartNew();
        while (!(received.Any(m => m.StartsWith("READY=1", StringComparison.Ordinal)) && received.Count(m => m == "WATCHDOG=1") >= 2))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), $"received only: {string.Join(" | ", received)}");
            if (await ReceiveAsync(TimeSpan.FromSeconds(1)) is string message)
            {
                received.Add(message);
            }
        }

        string ready = received.First(m => m.StartsWith("READY=1", StringComparison.Ordinal));
        Assert.Contains("STATUS=serving model version 0; broker connected", ready, StringComparison.Ordinal);

        await agent.TerminateAsync();
        string? stopping = null;
        while (stopping is null)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(90), "no STOPPING=1 after SIGTERM");
            stopping = await ReceiveAsync(TimeSpan.FromSeconds(1)) is string m && m.StartsWith("STOPPING=1", StringComparison.Ordinal) ? m : null;
        }

        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Watchdog_pings_stop_while_the_worker_hangs_and_resume_when_it_moves_again()
    {
        // The worker is made to hang inside stage 1 with the test-only pause point; it does not beat while paused.
        await using var agent = await ChildAgent.CreateAsync();
        agent.Environment["NOTIFY_SOCKET"] = SocketPath;
        agent.Environment["WATCHDOG_USEC"] = "2000000";
        await agent.StartAsync(pauseAt: "stage1");
        Assert.Equal("WATCHDOG=1", await NextPingAsync(TimeSpan.FromSeconds(30)));

        await agent.PublishAsync(("hang", AgentHarness.SplitTask(0, 200)));
        await agent.WaitForPauseAsync(TimeSpan.FromSeconds(60));

        // Pings may still come until the last beat is older than the 2 s timeout; then three quiet seconds.
        var hung = Stopwatch.StartNew();
        while (await NextPingAsync(TimeSpan.FromSeconds(3)) is not null)
        {
            Assert.True(hung.Elapsed < TimeSpan.FromSeconds(15), "WATCHDOG=1 kept coming while the worker hung");
        }

        agent.Release();
        Assert.Equal("WATCHDOG=1", await NextPingAsync(TimeSpan.FromSeconds(30)));
        await agent.WaitForAsync("model.deployed", "hang", TimeSpan.FromSeconds(120));
    }

    [Fact]
    public async Task Agent_sends_nothing_to_systemd_without_a_notify_socket()
    {
        await using var agent = AgentProcess.Start(Path.Combine(_notify.Directory, "data"));
        Assert.NotNull(await agent.LineContainingAsync("MQTT connected", TimeSpan.FromSeconds(60)));
        Assert.Null(await ReceiveAsync(TimeSpan.FromSeconds(1)));
    }

    /// <summary>The next WATCHDOG=1 within <paramref name="timeout"/>, skipping other notifications (READY=1, STATUS=...).</summary>
    private async Task<string?> NextPingAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (await ReceiveAsync(timeout - clock.Elapsed) is "WATCHDOG=1")
            {
                return "WATCHDOG=1";
            }
        }

        return null;
    }

    private Task<string?> ReceiveAsync(TimeSpan timeout) => _notify.ReceiveAsync(timeout);

    public void Dispose() => _notify.Dispose();
}
