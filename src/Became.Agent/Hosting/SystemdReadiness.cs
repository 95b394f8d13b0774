using Became.Agent.Mqtt;
using Became.Agent.Deployment;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Became.Agent.Hosting;

/// <summary>
/// Tells systemd READY=1 once the agent serves its deployed model and the broker connection is up (or, after
/// <see cref="BrokerWait"/>, without the broker, which keeps reconnecting: an unreachable broker at boot must not
/// make systemd kill an agent that can serve over HTTP), and STOPPING=1 when a stop begins. Sent only when
/// NOTIFY_SOCKET is set, whoever started the process, so it can be tested without systemd.
/// </summary>
public sealed class SystemdReadiness(
    string? socketPath,
    IHostApplicationLifetime lifetime,
    MqttConnection connection,
    DeployedModel deployed,
    TimeProvider time,
    ILogger<SystemdReadiness> logger) : BackgroundService
{
    /// <summary>How long READY=1 waits for the broker; below systemd's default TimeoutStartSec of 90 s.</summary>
    public static readonly TimeSpan BrokerWait = TimeSpan.FromSeconds(30);

    private CancellationTokenRegistration _stopping;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (socketPath is null)
        {
            return;
        }

        // Kept past ExecuteAsync, which ends once READY=1 is out.
        _stopping = lifetime.ApplicationStopping.Register(() => Notify("STOPPING=1\nSTATUS=stopping"));
        try
        {
            // ApplicationStarted: every hosted service has started, so the deployed model is loaded.
            await Task.Delay(Timeout.Infinite, lifetime.ApplicationStarted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStarted.IsCancellationRequested)
        {
        }

        var deadline = time.GetUtcNow() + BrokerWait;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100), time);
        while (!connection.IsConnected && time.GetUtcNow() < deadline && await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
        }

        stoppingToken.ThrowIfCancellationRequested();
        string broker = connection.IsConnected ? "broker connected" : $"broker unreachable after {BrokerWait.TotalSeconds:0} s, reconnecting";
        Notify($"READY=1\nSTATUS=serving model version {deployed.Current.Version}; {broker}");
        logger.LogInformation("systemd notified: ready (model version {Version}; {Broker})", deployed.Current.Version, broker);
    }

    public override void Dispose()
    {
        _stopping.Dispose();
        base.Dispose();
    }

    private void Notify(string state)
    {
        if (SystemdNotifySocket.Send(socketPath!, state) is string error)
        {
            logger.LogWarning("systemd notification to {Socket} failed: {Error}", socketPath, error);
        }
    }
}
