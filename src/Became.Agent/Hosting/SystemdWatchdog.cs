using System.Globalization;
using Became.Agent.Jobs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Became.Agent.Hosting;

/// <summary>Where and how often to send systemd's watchdog keep-alive; disabled when not run under a unit with WatchdogSec.</summary>
/// <param name="SocketPath">The notify socket (NOTIFY_SOCKET; a leading '@' names an abstract socket).</param>
/// <param name="Timeout">The unit's watchdog timeout (WATCHDOG_USEC): pings go out every half of it.</param>
public sealed record SystemdWatchdogOptions(string? SocketPath, TimeSpan Timeout)
{
    public static SystemdWatchdogOptions Disabled { get; } = new(null, TimeSpan.Zero);

    public bool Enabled => !string.IsNullOrEmpty(SocketPath) && Timeout > TimeSpan.Zero;

    /// <summary>Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID the way sd_watchdog_enabled(3) does.</summary>
    public static SystemdWatchdogOptions FromEnvironment(Func<string, string?>? variable = null, int? processId = null)
    {
        variable ??= Environment.GetEnvironmentVariable;
        string? socket = variable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(socket)
            || !long.TryParse(variable("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out long usec)
            || usec <= 0)
        {
            return Disabled;
        }

        // WATCHDOG_PID names the process the watchdog is meant for: a child that inherited the variables must stay quiet.
        if (variable("WATCHDOG_PID") is { Length: > 0 } pid
            && (!int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out int owner) || owner != (processId ?? Environment.ProcessId)))
        {
            return Disabled;
        }

        return new SystemdWatchdogOptions(socket, TimeSpan.FromTicks(usec * 10));
    }
}

/// <summary>
/// Sends WATCHDOG=1 to systemd every half watchdog timeout, but only while the training worker's heartbeat is
/// fresher than the timeout, so a hung job gets the service restarted (Restart=on-failure) instead of kept alive.
/// READY=1 and STOPPING=1 come from <see cref="SystemdReadiness"/>.
/// </summary>
public sealed class SystemdWatchdog(SystemdWatchdogOptions options, AgentHeartbeat heartbeat, ILogger<SystemdWatchdog> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Enabled)
        {
            return;
        }

        logger.LogInformation("systemd watchdog: timeout {Timeout}, pinging every {Period} while the worker beats", options.Timeout, options.Timeout / 2);
        using var timer = new PeriodicTimer(options.Timeout / 2);
        bool healthy = true;
        do
        {
            bool fresh = heartbeat.IsFresh(options.Timeout);
            if (fresh != healthy)
            {
                healthy = fresh;
                if (fresh)
                {
                    logger.LogInformation("Training worker beats again; systemd watchdog pings resumed");
                }
                else
                {
                    logger.LogError("Training worker silent since {LastBeat:O}; systemd watchdog pings withheld, systemd will restart the agent", heartbeat.LastBeat);
                }
            }

            if (fresh)
            {
                Send();
            }
        }
        while (await WaitAsync(timer, stoppingToken).ConfigureAwait(false));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void Send()
    {
        if (SystemdNotifySocket.Send(options.SocketPath!, "WATCHDOG=1") is string error)
        {
            // A missed ping is systemd's to judge; the next tick tries again.
            logger.LogWarning("systemd watchdog ping to {Socket} failed: {Error}", options.SocketPath, error);
        }
    }
}
