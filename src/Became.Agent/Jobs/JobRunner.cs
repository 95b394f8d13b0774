using System.Diagnostics;
using System.Threading.Channels;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Intake;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Core.Models;
using Became.Core.Native;
using Became.Core.Training;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Jobs;

/// <summary>
/// One job from start to end, begun by the worker on the <see cref="DeploymentQueue"/>: trains the task
/// (<see cref="TaskTrainer"/>) on a thread of its own into the version number chosen as it starts, then the
/// <see cref="VersionCommitter"/> gates and commits it and serves the trained network (or announces the gate's refusal).
/// A job interrupted by shutdown or a crash stays queued and starts again from the beginning.
/// </summary>
public sealed class JobRunner(
    AgentStore store,
    TaskTrainer trainer,
    VersionCommitter committer,
    DeviceStatus status,
    IAgentEvents events,
    RetrySchedule retries,
    IJobCheckpoints checkpoints,
    AgentHeartbeat heartbeat,
    IOptions<AgentOptions> options,
    ILogger<JobRunner> logger)
{
    private readonly AgentOptions _options = options.Value;

    /// <summary>Runs one job to its end; every failure is reported here (only a shutdown's cancellation escapes).</summary>
    public async Task RunAsync(TaskRecord task, CancellationToken cancellationToken)
    {
        if (LearnedMeanwhile(task))
        {
            // An adoption applied before this job began brought the task already.
            logger.LogInformation("Task {TaskId} was learned by an adopted version meanwhile; not trained again", task.Id);
            return;
        }

        await RunJobAsync(task, cancellationToken).ConfigureAwait(false);
    }

    private bool LearnedMeanwhile(TaskRecord task)
    {
        try
        {
            return store.FindTask(task.Id) is { State: not TaskState.Queued };
        }
        catch (Exception e) when (StorageFailure.IsTransient(e))
        {
            // The job itself meets the fault and reports it.
            return false;
        }
    }

    private async Task RunJobAsync(TaskRecord task, CancellationToken cancellationToken)
    {
        status.SetState(AgentState.Training);
        var atStart = ProcessMemory.Snapshot();
        await PublishStatusAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var clock = Stopwatch.StartNew();
            if (await TrainAndCommitAsync(task, cancellationToken).ConfigureAwait(false) is { } done)
            {
                await AfterCommitAsync(task, done, clock.Elapsed, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            status.SetState(AgentState.Idle);

            ReleaseJobMemory(task.Id, atStart);
        }

        await PublishStatusAsync(cancellationToken).ConfigureAwait(false);
    }

    private const long Mebibyte = 1 << 20;

    /// <summary>Gives a finished job's memory back to the system, so an idle device holds its idle size, not the job's peak.</summary>
    private void ReleaseJobMemory(string taskId, MemorySnapshot atStart)
    {
        var atEnd = ProcessMemory.Snapshot();

        // A job leaves tens of MB of large arrays and tensor wrappers behind. Tensors that reached the finalizer free
        // their native memory only when it runs, hence collect, finalize, collect; then glibc keeps what libtorch freed
        // (per-thread arenas, and each job runs on a new thread) until malloc_trim hands the free pages back.
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        ProcessMemory.Trim();
        var after = ProcessMemory.Snapshot();

        // One short line for people; the breakdown (managed heap, C heap) is at Debug.
        logger.LogInformation("Memory of job {TaskId}: RSS {StartMiB} MiB at its start, {EndMiB} MiB at its end, {AfterMiB} MiB after it (peak {PeakMiB} MiB)",
            taskId, atStart.ResidentBytes / Mebibyte, atEnd.ResidentBytes / Mebibyte, after.ResidentBytes / Mebibyte, after.PeakResidentBytes / Mebibyte);
        logger.LogDebug("Memory of job {TaskId}: at its start {AtStart}; at its end {AtEnd}; given back {After}", taskId, atStart, atEnd, after);
    }

    /// <summary>Trains the task and commits its version; null when the job failed before the commit (reported here).</summary>
    private async Task<Committed?> TrainAndCommitAsync(TaskRecord task, CancellationToken cancellationToken)
    {
        var progress = Channel.CreateUnbounded<EpochReport>();
        var pump = PumpProgressAsync(task.Id, progress.Reader, cancellationToken);
        TrainedVersion? trained = null;
        try
        {
            store.MarkStarted(task.Id);

            // Chosen once: nothing else commits a version while the job runs (the deployment queue), so this is the number
            // the commit gets, and the one the model file's metadata names.
            int number = store.NextVersion();

            // A thread of its own: a job holds it for seconds to minutes, and on a 2-core device a pool thread taken that
            // long delays HTTP and MQTT requests until the pool grows.
            trained = await Task.Factory.StartNew(
                () => trainer.Train(task, number, new ChannelProgress(progress.Writer, heartbeat, Pause(task.Id, cancellationToken)), cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default).ConfigureAwait(false);
            progress.Writer.TryComplete();
            await pump.ConfigureAwait(false);
            var committed = committer.CommitLearned(trained.Files);
            retries.Clear(task.Id);
            var done = new Committed(committed, trained.Network);
            trained = null;
            return done;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogInformation("Training of {TaskId} interrupted by shutdown; it stays queued and restarts from the beginning", task.Id);
            throw;
        }
        catch (Exception e) when (StorageFailure.IsTransient(e))
        {
            // Nothing was committed (the blobs come before the transaction, and a blob is whole or absent), so the
            // task simply stays queued and the deployed model keeps serving; the job is tried again after a backoff.
            status.SetError($"{task.Id}: {e.Message}");
            var (attempt, delay, retryAt) = retries.Failed(task);
            try
            {
                store.MarkRetry(task.Id, e.Message, retryAt);
            }
            catch (Exception storeError) when (StorageFailure.IsTransient(storeError))
            {
                logger.LogError(storeError, "Could not record the failed attempt of {TaskId} in the store; the backoff is kept in memory", task.Id);
            }

            logger.LogError(e, "Job {TaskId} failed (attempt {Attempt}, transient): {Reason}; it stays queued and is retried in {Delay:F0} s", task.Id, attempt, e.Message, delay.TotalSeconds);
            await events.PublishAsync(task.Id, new JobFailed(
                Reason: e.Message,
                Retry: true,
                Attempt: attempt,
                RetryInSeconds: Math.Round(delay.TotalSeconds, 1)), cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e)
        {
            status.SetError($"{task.Id}: {e.Message}");
            logger.LogError(e, "Job {TaskId} failed", task.Id);
            store.MarkFailed(task.Id, e.Message);
            retries.Clear(task.Id);
            await events.PublishAsync(task.Id, new JobFailed(Reason: e.Message, Retry: false), cancellationToken).ConfigureAwait(false);
            return null;
        }
        finally
        {
            progress.Writer.TryComplete();
            trained?.Network.Dispose();
        }
    }

    /// <summary>
    /// After the commit: the gate's verdict is announced, or the trained network is swapped in and announced. The task
    /// is learned by now, so a failure here (an event that cannot be written) is logged and reported, and never marks
    /// the task failed; files that fail their checksum are the committer's (model.corrupt, the served model stays).
    /// </summary>
    private async Task AfterCommitAsync(TaskRecord task, Committed done, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        var committed = done.Version;
        IContinualNetwork? network = done.Network;
        var version = committed.Version;
        try
        {
            if (committed.Gate is null)
            {
                checkpoints.Reached(IJobCheckpoints.Swap, task.Id, cancellationToken);
            }

            var handed = network;
            network = null;

            // From here the committer owns the network: it serves it or disposes it.
            if (await committer.DeployAsync(committed, handed, cancellationToken).ConfigureAwait(false))
            {
                logger.LogDebug(
                    "Task {TaskId} learned in {Seconds:F1} s (training {Training:F1} s): version {Version}, accuracy {Accuracy}",
                    task.Id, elapsed.TotalSeconds, version.TrainingSeconds, version.Version,
                    string.Join(", ", version.Accuracy.Select(a => $"{a.Key} {a.Value:F2}%")));
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogInformation("Shutdown after the commit of {TaskId}: version {Version} is stored and is loaded at the next start", task.Id, version.Version);
            throw;
        }
        catch (Exception e)
        {
            await ReportAfterCommitFailureAsync(task, version, e, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            network?.Dispose();
        }
    }

    private async Task ReportAfterCommitFailureAsync(TaskRecord task, ModelVersionRecord version, Exception e, CancellationToken cancellationToken)
    {
        try
        {
            status.SetError($"{task.Id}: version {version.Version} committed, then: {e.Message}");
            logger.LogError(e, "Task {TaskId} is learned into version {Version}, but a step after the commit failed: {Reason}", task.Id, version.Version, e.Message);
            await events.PublishAsync(task.Id, new JobFailed(
                Reason: e.Message,
                Retry: false,
                Committed: true,
                Version: version.Version), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception reportError) when (reportError is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever broke may break the report too (the store, the connection): the log keeps it.
            logger.LogError(reportError, "Could not report the failure after the commit of {TaskId}", task.Id);
        }
    }

    private async Task PumpProgressAsync(string taskId, ChannelReader<EpochReport> reader, CancellationToken cancellationToken)
    {
        // The retained status carries the epoch too (`became status --watch`), republished at most once a second.
        Stopwatch? statusClock = null;
        await foreach (var (p, rate) in reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            status.SetProgress(new TrainingStatus(p.Stage, p.Epoch, _options.Training.Epochs));
            if (statusClock is null || statusClock.Elapsed >= TimeSpan.FromSeconds(1))
            {
                statusClock = Stopwatch.StartNew();
                await PublishStatusAsync(cancellationToken).ConfigureAwait(false);
            }

            await events.PublishAsync(taskId, new TrainingProgress(
                Stage: p.Stage,
                Epoch: p.Epoch,
                Epochs: _options.Training.Epochs,
                Loss: Finite(p.TrainLoss, 5),
                ValidationLoss: Finite(p.ValidationLoss, 5),
                ValidationAccuracy: Finite(p.ValidationAccuracy, 2),
                SamplesPerSecond: Finite(rate, 1)), cancellationToken).ConfigureAwait(false);
        }
    }

    // JSON has no NaN or infinity (a diverging epoch's loss): such a figure goes out as null rather than fail the event.
    private static double? Finite(double value, int digits) => double.IsFinite(value) ? Math.Round(value, digits) : null;

    private Task PublishStatusAsync(CancellationToken cancellationToken) => events.PublishStatusAsync(status.Current(), cancellationToken);

    private Action<int> Pause(string taskId, CancellationToken cancellationToken) =>
        stage => checkpoints.Reached(stage == 1 ? IJobCheckpoints.Stage1 : IJobCheckpoints.Stage2, taskId, cancellationToken);

    /// <summary>Progress that only queues (the training thread must not wait on the network); each epoch is a heartbeat.</summary>
    private sealed class ChannelProgress(ChannelWriter<EpochReport> writer, AgentHeartbeat heartbeat, Action<int> pause) : IProgress<EpochReport>
    {
        public void Report(EpochReport value)
        {
            heartbeat.Beat();
            writer.TryWrite(value);
            pause(value.Epoch.Stage);
        }
    }

    /// <summary>A job's committed version and the trained network that holds its weights (served unless the gate refused it).</summary>
    private sealed record Committed(CommittedVersion Version, IContinualNetwork Network);
}
