using System.Diagnostics;
using System.Threading.Channels;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Intake;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Core.Native;
using Became.Core.Training;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Jobs;

/// <summary>
/// One job from start to end: trains the task (<see cref="TaskTrainer"/>) on a thread of its own, asks the gate,
/// commits the new version with its memory and Fisher, then deploys it (or announces the gate's refusal). A job
/// interrupted by shutdown or a crash stays queued and starts again from the beginning.
/// </summary>
public sealed class JobRunner(
    AgentStore store,
    TaskTrainer trainer,
    ModelDeployment deployment,
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
        // The deployment lock is taken only as the job starts and ends, never while it trains: a rollback arriving in
        // between is queued and answered at once (see ModelDeployment.RollbackAsync), and applied when the job ends.
        await deployment.BeginJobAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (LearnedMeanwhile(task))
            {
                // An adoption applied while this job waited for the deployment lock brought the task already.
                logger.LogInformation("Task {TaskId} was learned by an adopted version meanwhile; not trained again", task.Id);
                return;
            }

            await RunJobLockedAsync(task, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await deployment.EndJobAsync(cancellationToken).ConfigureAwait(false);
        }
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

    private async Task RunJobLockedAsync(TaskRecord task, CancellationToken cancellationToken)
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
        try
        {
            store.MarkStarted(task.Id);
            // A thread of its own: a job holds it for seconds to minutes, and on a 2-core device a pool thread taken that
            // long delays HTTP and MQTT requests until the pool grows.
            var committed = await Task.Factory.StartNew(
                () => trainer.Train(task, new ChannelProgress(progress.Writer, heartbeat, Pause(task.Id, cancellationToken)), cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default).ConfigureAwait(false);
            progress.Writer.TryComplete();
            await pump.ConfigureAwait(false);
            var previous = store.Deployed();
            string? gate = GateVerdict(task.Id, committed.Accuracy, previous);
            var version = store.Commit(committed, gate, () => checkpoints.Reached(IJobCheckpoints.Commit, task.Id, cancellationToken));
            retries.Clear(task.Id);
            return new Committed(committed, version, previous, gate);
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
        }
    }

    /// <summary>
    /// After the commit: the gate's verdict is announced, or the new version is swapped in and announced. The task is
    /// learned by now, so a failure here (a model file that fails its checksum on loading, an event that cannot be
    /// written) is logged and reported, and never marks the task failed.
    /// </summary>
    private async Task AfterCommitAsync(TaskRecord task, Committed done, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        var (committed, version, previous, gate) = done;
        try
        {
            if (gate is not null)
            {
                logger.LogDebug("Task {TaskId}: version {Version} stored but not deployed: {Reason}", task.Id, version.Version, gate);
                await events.PublishAsync(task.Id, new ModelRejected(
                    Version: version.Version,
                    DeployedVersion: previous?.Version ?? 0,
                    Reason: gate,
                    Accuracy: version.Accuracy,
                    DeployedAccuracy: previous?.Accuracy), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                checkpoints.Reached(IJobCheckpoints.Swap, task.Id, cancellationToken);
                await DeployAsync(task, committed, version, elapsed, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogInformation("Shutdown after the commit of {TaskId}: version {Version} is stored and is loaded at the next start", task.Id, version.Version);
            throw;
        }
        catch (Exception e)
        {
            await ReportAfterCommitFailureAsync(task, version, gate, e, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReportAfterCommitFailureAsync(TaskRecord task, ModelVersionRecord version, string? gate, Exception e, CancellationToken cancellationToken)
    {
        try
        {
            if (gate is null && e is InvalidDataException or FileNotFoundException)
            {
                // The new version's files failed their checksum as it was loaded: as at start-up, it is marked and the
                // model already loaded keeps serving, so the deployed pointer goes back to that one.
                int serving = deployment.ServingVersion;
                status.SetError($"model version {version.Version} corrupt; serving version {serving}");
                logger.LogError("Task {TaskId} is learned into version {Version}, but its files failed their checksum as it was loaded; version {Serving} keeps serving: {Reason}", task.Id, version.Version, serving, e.Message);
                store.MarkCorrupt(version.Version, e.Message);
                store.SetDeployed(serving);
                await events.PublishAsync(task.Id, new ModelCorrupt(
                    Version: version.Version,
                    FallbackVersion: serving,
                    Reasons: new[] { $"version {version.Version}: {e.Message}" },
                    LostTasks: new[] { task.Id }), cancellationToken).ConfigureAwait(false);
                return;
            }

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

    private async Task DeployAsync(TaskRecord task, CommittedTask committed, ModelVersionRecord version, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        deployment.Load();
        logger.LogDebug(
            "Task {TaskId} learned in {Seconds:F1} s (training {Training:F1} s): version {Version}, accuracy {Accuracy}",
            task.Id, elapsed.TotalSeconds, committed.TrainingSeconds, version.Version,
            string.Join(", ", version.Accuracy.Select(a => $"{a.Key} {a.Value:F2}%")));
        if (committed.MergeCoefficient is { } a)
        {
            await events.PublishAsync(task.Id, new ModelMerged(MergeCoefficient: a), cancellationToken).ConfigureAwait(false);
        }

        await events.PublishAsync(task.Id, new ModelDeployed(

            Version: version.Version,

            Accuracy: version.Accuracy,

            MemoryRanks: version.MemoryRanks,

            TrainingSeconds: Math.Round(committed.TrainingSeconds, 2)), cancellationToken).ConfigureAwait(false);
    }

    private string? GateVerdict(string taskId, IReadOnlyDictionary<string, double> accuracy, ModelVersionRecord? deployedVersion) =>
        DeploymentGate.Verdict(_options.Gate, taskId, accuracy, deployedVersion?.Accuracy, TestCount);

    private int TestCount(string taskId) =>
        store.FindTask(taskId) is { } t ? DecodedTask.TestCountOf(t.Samples, t.TestFraction) : 1;

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

    /// <summary>A job's committed version with what the gate decided against the version deployed before it.</summary>
    private sealed record Committed(CommittedTask Task, ModelVersionRecord Version, ModelVersionRecord? Previous, string? Gate);
}
