using System.Diagnostics;
using Became.Agent.Hosting;
using Became.Agent.Jobs;
using Microsoft.Extensions.Logging.Abstractions;

// Not ...Tests.Hosting: that namespace would shadow Became.Agent.Hosting in tests that write Hosting.AgentHost.
namespace Became.Agent.Tests.HostingChecks;

public sealed class SystemdWatchdogTests : IDisposable
{
    // 400 ms timeout: a ping every 200 ms; short enough for a fast test, long enough for a loaded 2-core machine.
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(400);

    private readonly NotifySocket _notify = new();

    private string SocketPath => _notify.Path;

    [Fact]
    public async Task Pings_while_beats_are_fresh_and_stops_when_they_go_stale()
    {
        var heartbeat = new AgentHeartbeat(TimeProvider.System);
        using var watchdog = new SystemdWatchdog(new SystemdWatchdogOptions(SocketPath, Timeout), heartbeat, NullLogger<SystemdWatchdog>.Instance);
        await watchdog.StartAsync(CancellationToken.None);
        try
        {
            // Fresh: keep beating until three pings have arrived.
            int pings = 0;
            var deadline = Stopwatch.StartNew();
            while (pings < 3)
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(3), $"only {pings} WATCHDOG=1 datagrams while beating");
                heartbeat.Beat();
                if (await ReceiveAsync(TimeSpan.FromMilliseconds(100)) is string message)
                {
                    Assert.Equal("WATCHDOG=1", message);
                    pings++;
                }
            }

            // Stale: no more beats. Pings may continue until the last beat is older than the timeout, then must stop.
            var stale = Stopwatch.StartNew();
            while (await ReceiveAsync(Timeout) is not null)
            {
                Assert.True(stale.Elapsed < TimeSpan.FromSeconds(2), "pings kept coming without beats");
            }

            Assert.False(heartbeat.IsFresh(Timeout));
            Assert.Null(await ReceiveAsync(Timeout));

            // Beats resume: so do the pings (keep beating: on a loaded machine one beat may be stale by the next tick).
            var resumed = Stopwatch.StartNew();
            string? ping = null;
            while (ping is null)
            {
                Assert.True(resumed.Elapsed < TimeSpan.FromSeconds(5), "no WATCHDOG=1 after beats resumed");
                heartbeat.Beat();
                ping = await ReceiveAsync(TimeSpan.FromMilliseconds(100));
            }

            Assert.Equal("WATCHDOG=1", ping);
        }
        finally
        {
            await watchdog.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Disabled_watchdog_sends_nothing()
    {
        using var watchdog = new SystemdWatchdog(SystemdWatchdogOptions.Disabled, new AgentHeartbeat(TimeProvider.System), NullLogger<SystemdWatchdog>.Instance);
        await watchdog.StartAsync(CancellationToken.None);
        Assert.Null(await ReceiveAsync(TimeSpan.FromMilliseconds(200)));
        await watchdog.StopAsync(CancellationToken.None);
    }

    [Fact]
    public void Options_follow_systemd_environment()
    {
        static SystemdWatchdogOptions Read(Dictionary<string, string> env) => SystemdWatchdogOptions.FromEnvironment(k => env.GetValueOrDefault(k), processId: 42);

        var enabled = Read(new() { ["NOTIFY_SOCKET"] = "/run/systemd/notify", ["WATCHDOG_USEC"] = "60000000", ["WATCHDOG_PID"] = "42" });
        Assert.True(enabled.Enabled);
        Assert.Equal(TimeSpan.FromSeconds(60), enabled.Timeout);
        Assert.Equal("/run/systemd/notify", enabled.SocketPath);

        Assert.False(Read(new() { ["NOTIFY_SOCKET"] = "/run/systemd/notify" }).Enabled);
        Assert.False(Read(new() { ["WATCHDOG_USEC"] = "60000000" }).Enabled);
        Assert.False(Read(new() { ["NOTIFY_SOCKET"] = "/run/systemd/notify", ["WATCHDOG_USEC"] = "60000000", ["WATCHDOG_PID"] = "7" }).Enabled);
        Assert.False(Read(new() { ["NOTIFY_SOCKET"] = "/run/systemd/notify", ["WATCHDOG_USEC"] = "soon" }).Enabled);
    }

    private Task<string?> ReceiveAsync(TimeSpan timeout) => _notify.ReceiveAsync(timeout);

    public void Dispose() => _notify.Dispose();
}
