using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Intake;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Core.Native;
using Became.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Jobs;

/// <summary>
/// The job loop, which drains the <see cref="DeploymentQueue"/>: runs the operator's waiting commands (rollback,
/// adoption), then queued tasks one at a time, in arrival order (<see cref="JobRunner"/>); holds the queue while its
/// first task backs off after a transient failure, and waits out a store that cannot be read.
/// </summary>
public sealed class TrainingWorker(
    AgentStore store,
    JobRunner runner,
    DeploymentQueue queue,
    StartupDeployment startup,
    DeviceStatus status,
    IAgentEvents events,
    JobSignal signal,
    RetrySchedule retries,
    IOptions<AgentOptions> options,
    AgentHeartbeat heartbeat,
    TimeProvider time,
    ILogger<TrainingWorker> logger) : BackgroundService
{
    // Short, so an idle or waiting worker keeps beating for the systemd watchdog.
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);

    private readonly AgentOptions _options = options.Value;
    private int _storeFailures;

    /// <summary>The status now (see <see cref="DeviceStatus.Current"/>).</summary>
    public AgentStatus Status(string? state = null) => status.Current(state);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Training is CPU-bound: leave the host's start-up thread at once.
        await Task.Yield();
        TorchSharp.torch.set_num_threads(_options.Training.Threads);

        // The agent idles between jobs: a job's large blocks go back to the system when freed (see ProcessMemory).
        ProcessMemory.ReturnLargeBlocks();
        await startup.AnnounceAsync(stoppingToken).ConfigureAwait(false);
        foreach (var interrupted in store.QueuedTasks().Where(t => t.StartedAt is not null))
        {
            logger.LogDebug("Job {TaskId} was interrupted: it started at {StartedAt:O} and the agent stopped or crashed before its commit; it restarts from the beginning", interrupted.Id, interrupted.StartedAt);
            await events.PublishAsync(interrupted.Id, new JobInterrupted(
                StartedAt: interrupted.StartedAt,
                RemovedOrphanBlobs: store.RemovedOrphans), stoppingToken).ConfigureAwait(false);
        }

        await events.PublishStatusAsync(status.Current(), stoppingToken).ConfigureAwait(false);
        try
        {
            await DrainAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            queue.CancelWaiting();
        }
    }

    private async Task DrainAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            heartbeat.Beat();
            await queue.RunCommandsAsync(stoppingToken).ConfigureAwait(false);
            TaskRecord? next;
            try
            {
                next = store.QueuedTasks().FirstOrDefault();
                _storeFailures = 0;
            }
            catch (Exception e) when (StorageFailure.IsTransient(e))
            {
                // The store reopens itself on the next call; until the fault clears, wait rather than stop the worker.
                var delay = _options.Jobs.RetryDelay(++_storeFailures);
                status.SetError($"store: {e.Message}");
                logger.LogError(e, "The store cannot be read: {Reason}; trying again in {Delay:F0} s", e.Message, delay.TotalSeconds);
                await Task.Delay(delay, time, stoppingToken).ConfigureAwait(false);
                continue;
            }

            if (next is null)
            {
                await signal.WaitAsync(MaxWait, stoppingToken).ConfigureAwait(false);
                continue;
            }

            // A task backing off after a transient failure holds the queue: tasks are learned in arrival order.
            var wait = retries.Wait(next);
            if (wait > TimeSpan.Zero)
            {
                await signal.WaitAsync(wait < MaxWait ? wait : MaxWait, stoppingToken).ConfigureAwait(false);
                continue;
            }

            if (!queue.TryBeginJob())
            {
                // A command came in meanwhile: it runs first.
                continue;
            }

            try
            {
                await runner.RunAsync(next, stoppingToken).ConfigureAwait(false);
            }
            finally
            {
                queue.EndJob();
            }
        }
    }
}
