using System.Diagnostics;
using System.Threading.Channels;
using Became.Agent.Configuration;
using Became.Agent.Hosting;
using Became.Agent.Intake;
using Became.Agent.Messaging;
using Became.Agent.Serving;
using Became.Agent.Storage;
using Became.Core.Data;
using Became.Core.Evaluation;
using Became.Core.Native;
using Became.Core.Training;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Jobs;

/// <summary>
/// Runs queued tasks one at a time, in arrival order: rebuilds the learner from the deployed version, learns
/// the task (two stages and the merge), commits the new version with its memory and Fisher, then swaps the
/// deployed model. A job interrupted by shutdown or a crash stays queued and starts again from the beginning.
/// </summary>
public sealed class TrainingWorker(
    AgentStore store,
    DeployedModel deployed,
    AgentEvents events,
    JobSignal signal,
    IOptions<AgentOptions> options,
    AgentHeartbeat heartbeat,
    ComputeDevice device,
    ILogger<TrainingWorker> logger) : BackgroundService
{
    private readonly AgentOptions _options = options.Value;
    private readonly TestPause _pause = TestPause.FromEnvironment();
    private StartupFallback? _fallback;

    // Backoff of tasks that failed transiently, kept in memory too: on a full disk recording it in LiteDB may fail as well.
    private readonly Dictionary<string, (int Attempts, DateTime RetryAt)> _retries = [];

    // Jobs and rollbacks both move the deployed pointer: one at a time. A job holds it only as it starts and ends and
    // sets _jobInFlight; a rollback that finds a job in flight is queued in _pendingRollback (both guarded by the lock).
    private readonly SemaphoreSlim _deployment = new(1, 1);
    private bool _jobInFlight;
    private int? _pendingRollback;
    private string? _lastError;

    /// <summary>The state published in status: idle or training.</summary>
    public string State { get; private set; } = "idle";

    /// <summary>
    /// Start-up: loads the deployed version, checking every file against its sha256. A corrupt or missing model or
    /// state file is logged and announced (model.corrupt), the version is marked, and the newest intact ancestor
    /// (or none) is deployed instead, so the agent starts serving the last good model rather than failing.
    /// </summary>
    public void LoadDeployedAtStartup()
    {
        var deployedVersion = store.Deployed();
        var candidate = deployedVersion;
        var problems = new List<string>();
        while (candidate is not null)
        {
            try
            {
                LoadDeployed(candidate);
                break;
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
            {
                string reason = $"version {candidate.Version}: {e.Message}";
                logger.LogError("Model version {Version} has a missing file or failed its checksum at start-up and will not be served: {Reason}", candidate.Version, e.Message);
                store.MarkCorrupt(candidate.Version, e.Message);
                problems.Add(reason);
                candidate = LastGoodBefore(candidate);
            }
        }

        if (problems.Count == 0)
        {
            return;
        }

        store.SetDeployed(candidate?.Version ?? 0);
        if (candidate is null)
        {
            deployed.Swap(DeployedSnapshot.None);
        }

        var lost = (deployedVersion?.TaskIds ?? []).Except(candidate?.TaskIds ?? []).ToArray();
        logger.LogError(
            "Fell back from model version {Corrupt} to version {Fallback}; tasks no longer in the deployed model: [{Lost}]",
            deployedVersion!.Version, candidate?.Version ?? 0, string.Join(", ", lost));
        _fallback = new StartupFallback(deployedVersion.Version, candidate?.Version ?? 0, problems, lost);

        // Set now: the first status goes out as soon as MQTT connects, before the worker announces the fallback.
        _lastError = $"model version {deployedVersion.Version} corrupt; serving version {candidate?.Version ?? 0}";
    }

    // The parent chain first (what the corrupt version was built on), skipping versions already known to be corrupt.
    private ModelVersionRecord? LastGoodBefore(ModelVersionRecord version)
    {
        var parent = version.ParentVersion == 0 ? null : store.FindVersion(version.ParentVersion);
        while (parent is not null && parent.Corrupt is not null)
        {
            parent = parent.ParentVersion == 0 ? null : store.FindVersion(parent.ParentVersion);
        }

        return parent;
    }

    /// <summary>Loads the stored deployed version into the serving holder.</summary>
    public void LoadDeployed() => LoadDeployed(store.Deployed());

    private void LoadDeployed(ModelVersionRecord? version)
    {
        if (version is null)
        {
            deployed.Swap(DeployedSnapshot.None);
            return;
        }

        using var session = ModelFiles.Open(_options, version, store.Blobs, device);
        deployed.Swap(new DeployedSnapshot(version.Version, version.TaskIds, session.ReleaseNetwork(), version.ModelBlob));
        logger.LogInformation("Deployed model version {Version} loaded: {Tasks} tasks, memory ranks [{Ranks}]", version.Version, version.TaskIds.Length, string.Join(", ", session.Learner.Memory.Ranks));
    }

    public AgentStatus Status(string? state = null) =>
        new(state ?? State, deployed.Current.Version, QueueLength(), deployed.Current.TaskIds.Count, _lastError, DateTimeOffset.UtcNow);

    private int _queueLength;
    private int _storeFailures;

    // The status must go out even while the store cannot be read (a full disk): then it shows the last known length.
    private int QueueLength()
    {
        try
        {
            return _queueLength = store.QueueLength;
        }
        catch (Exception e) when (JobFailure.IsTransient(e))
        {
            return _queueLength;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Training is CPU-bound: leave the host's start-up thread at once.
        await Task.Yield();
        TorchSharp.torch.set_num_threads(_options.Training.Threads);
        if (_fallback is { } fallback)
        {
            await events.PublishAsync(EventTypes.ModelCorrupt, null, new Dictionary<string, object?>
            {
                ["version"] = fallback.CorruptVersion,
                ["fallbackVersion"] = fallback.FallbackVersion,
                ["reasons"] = fallback.Reasons,
                ["lostTasks"] = fallback.LostTasks,
            }, stoppingToken).ConfigureAwait(false);
        }

        foreach (var interrupted in store.QueuedTasks().Where(t => t.StartedAt is not null))
        {
            logger.LogWarning("Job {TaskId} was interrupted: it started at {StartedAt:O} and the agent stopped or crashed before its commit; it restarts from the beginning", interrupted.Id, interrupted.StartedAt);
            await events.PublishAsync(EventTypes.JobInterrupted, interrupted.Id, new Dictionary<string, object?>
            {
                ["startedAt"] = interrupted.StartedAt,
                ["removedOrphanBlobs"] = store.RemovedOrphans,
            }, stoppingToken).ConfigureAwait(false);
        }

        await PublishStatusAsync(stoppingToken).ConfigureAwait(false);
        while (!stoppingToken.IsCancellationRequested)
        {
            heartbeat.Beat();
            TaskRecord? next;
            try
            {
                next = store.QueuedTasks().FirstOrDefault();
                _storeFailures = 0;
            }
            catch (Exception e) when (JobFailure.IsTransient(e))
            {
                // The store reopens itself on the next call; until the fault clears, wait rather than stop the worker.
                var delay = _options.Jobs.RetryDelay(++_storeFailures);
                _lastError = $"store: {e.Message}";
                logger.LogError(e, "The store cannot be read: {Reason}; trying again in {Delay:F0} s", e.Message, delay.TotalSeconds);
                await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
                continue;
            }

            if (next is null)
            {
                // Short, so an idle worker keeps beating for the systemd watchdog.
                await signal.WaitAsync(TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(false);
                continue;
            }

            // A task backing off after a transient failure holds the queue: tasks are learned in arrival order.
            var retryAt = _retries.TryGetValue(next.Id, out var retry) ? retry.RetryAt : next.RetryAt;
            var wait = retryAt is DateTime at ? at - DateTime.UtcNow : TimeSpan.Zero;
            if (wait > TimeSpan.Zero)
            {
                await signal.WaitAsync(wait < TimeSpan.FromSeconds(5) ? wait : TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(false);
                continue;
            }

            await RunJobAsync(next, stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task RunJobAsync(TaskRecord task, CancellationToken cancellationToken)
    {
        // The deployment lock is taken only as the job starts and ends, never while it trains: a rollback arriving in
        // between is queued and answered at once (see RollbackAsync), and applied when the job ends.
        await _deployment.WaitAsync(cancellationToken).ConfigureAwait(false);
        _jobInFlight = true;
        _deployment.Release();
        try
        {
            await RunJobLockedAsync(task, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await EndJobAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RunJobLockedAsync(TaskRecord task, CancellationToken cancellationToken)
    {
        State = "training";
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
            State = "idle";

            // A job leaves tens of MB of large arrays and tensor wrappers behind; a device that idles for hours
            // between tasks should give that memory back now rather than whenever the next allocation comes.
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }

        await PublishStatusAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Trains the task and commits its version; null when the job failed before the commit (reported here).</summary>
    private async Task<Committed?> TrainAndCommitAsync(TaskRecord task, CancellationToken cancellationToken)
    {
        var progress = Channel.CreateUnbounded<EpochProgress>();
        var pump = PumpProgressAsync(task.Id, progress.Reader, cancellationToken);
        try
        {
            store.MarkStarted(task.Id);
            // A thread of its own: a job holds it for seconds to minutes, and on a 2-core device a pool thread taken that
            // long delays HTTP and MQTT requests until the pool grows.
            var committed = await Task.Factory.StartNew(
                () => Train(task, new ChannelProgress(progress.Writer, heartbeat, Pause(task.Id, cancellationToken)), cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default).ConfigureAwait(false);
            progress.Writer.TryComplete();
            await pump.ConfigureAwait(false);
            var previous = store.Deployed();
            string? gate = GateVerdict(task.Id, committed.Accuracy, previous);
            var version = store.Commit(committed, gate, () => _pause.At(TestPause.Commit, task.Id, logger, cancellationToken));
            _retries.Remove(task.Id);
            return new Committed(committed, version, previous, gate);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogInformation("Training of {TaskId} interrupted by shutdown; it stays queued and restarts from the beginning", task.Id);
            throw;
        }
        catch (Exception e) when (JobFailure.IsTransient(e))
        {
            // Nothing was committed (the blobs come before the transaction, and a blob is whole or absent), so the
            // task simply stays queued and the deployed model keeps serving; the job is tried again after a backoff.
            _lastError = $"{task.Id}: {e.Message}";
            int attempt = Math.Max(task.Attempts, _retries.GetValueOrDefault(task.Id).Attempts) + 1;
            var delay = _options.Jobs.RetryDelay(attempt);
            _retries[task.Id] = (attempt, DateTime.UtcNow + delay);
            try
            {
                store.MarkRetry(task.Id, e.Message, DateTime.UtcNow + delay);
            }
            catch (Exception storeError) when (JobFailure.IsTransient(storeError))
            {
                logger.LogError(storeError, "Could not record the failed attempt of {TaskId} in the store; the backoff is kept in memory", task.Id);
            }

            logger.LogError(e, "Job {TaskId} failed (attempt {Attempt}, transient): {Reason}; it stays queued and is retried in {Delay:F0} s", task.Id, attempt, e.Message, delay.TotalSeconds);
            await events.PublishAsync(EventTypes.JobFailed, task.Id, new Dictionary<string, object?>
            {
                ["reason"] = e.Message,
                ["retry"] = true,
                ["attempt"] = attempt,
                ["retryInSeconds"] = Math.Round(delay.TotalSeconds, 1),
            }, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e)
        {
            _lastError = $"{task.Id}: {e.Message}";
            logger.LogError(e, "Job {TaskId} failed", task.Id);
            store.MarkFailed(task.Id, e.Message);
            _retries.Remove(task.Id);
            await events.PublishAsync(EventTypes.JobFailed, task.Id, new Dictionary<string, object?> { ["reason"] = e.Message, ["retry"] = false }, cancellationToken).ConfigureAwait(false);
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
                logger.LogWarning("Task {TaskId}: version {Version} stored but not deployed: {Reason}", task.Id, version.Version, gate);
                await events.PublishAsync(EventTypes.ModelRejected, task.Id, new Dictionary<string, object?>
                {
                    ["version"] = version.Version,
                    ["deployedVersion"] = previous?.Version ?? 0,
                    ["reason"] = gate,
                    ["accuracy"] = version.Accuracy,
                    ["deployedAccuracy"] = previous?.Accuracy,
                }, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                _pause.At(TestPause.Swap, task.Id, logger, cancellationToken);
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
                int serving = deployed.Current.Version;
                _lastError = $"model version {version.Version} corrupt; serving version {serving}";
                logger.LogError("Task {TaskId} is learned into version {Version}, but its files failed their checksum as it was loaded; version {Serving} keeps serving: {Reason}", task.Id, version.Version, serving, e.Message);
                store.MarkCorrupt(version.Version, e.Message);
                store.SetDeployed(serving);
                await events.PublishAsync(EventTypes.ModelCorrupt, task.Id, new Dictionary<string, object?>
                {
                    ["version"] = version.Version,
                    ["fallbackVersion"] = serving,
                    ["reasons"] = new[] { $"version {version.Version}: {e.Message}" },
                    ["lostTasks"] = new[] { task.Id },
                }, cancellationToken).ConfigureAwait(false);
                return;
            }

            _lastError = $"{task.Id}: version {version.Version} committed, then: {e.Message}";
            logger.LogError(e, "Task {TaskId} is learned into version {Version}, but a step after the commit failed: {Reason}", task.Id, version.Version, e.Message);
            await events.PublishAsync(EventTypes.JobFailed, task.Id, new Dictionary<string, object?>
            {
                ["reason"] = e.Message,
                ["retry"] = false,
                ["committed"] = true,
                ["version"] = version.Version,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception reportError) when (reportError is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever broke may break the report too (the store, the connection): the log keeps it.
            logger.LogError(reportError, "Could not report the failure after the commit of {TaskId}", task.Id);
        }
    }

    private async Task DeployAsync(TaskRecord task, CommittedTask committed, ModelVersionRecord version, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        LoadDeployed();
        logger.LogInformation(
            "Task {TaskId} learned in {Seconds:F1} s (training {Training:F1} s): version {Version}, accuracy {Accuracy}",
            task.Id, elapsed.TotalSeconds, committed.TrainingSeconds, version.Version,
            string.Join(", ", version.Accuracy.Select(a => $"{a.Key} {a.Value:F2}%")));
        if (committed.MergeCoefficient is { } a)
        {
            await events.PublishAsync(EventTypes.ModelMerged, task.Id, new Dictionary<string, object?> { ["mergeCoefficient"] = a }, cancellationToken).ConfigureAwait(false);
        }

        await events.PublishAsync(EventTypes.ModelDeployed, task.Id, new Dictionary<string, object?>
        {
            ["version"] = version.Version,
            ["accuracy"] = version.Accuracy,
            ["memoryRanks"] = version.MemoryRanks,
            ["trainingSeconds"] = Math.Round(committed.TrainingSeconds, 2),
        }, cancellationToken).ConfigureAwait(false);
    }

    private CommittedTask Train(TaskRecord task, IProgress<EpochProgress> progress, CancellationToken cancellationToken)
    {
        // libtorch's OpenMP thread count is per OS thread, and each job runs on a new one: set it here.
        TorchSharp.torch.set_num_threads(_options.Training.Threads);
        var version = store.Deployed();
        using var session = ModelFiles.Open(_options, version, store.Blobs, device);
        var learner = session.Learner;
        var decoded = TaskPayloadDecoder.Decode(store.Blobs.Get(task.PayloadBlob!), new TaskPayloadLimits(_options.Model.Features, _options.Limits.MaxPayloadBytes, _options.Limits.MaxSamplesPerTask));
        var samples = Scaled(decoded);
        var (train, validation, test) = TaskSplit.Split(task.Id, samples, decoded.TestCount);
        double mean = _options.Model.NormalizationMean, std = _options.Model.NormalizationStd;
        using var continual = new ContinualTask(learner.TasksLearned, task.Id, decoded.Classes, train.ToLabelledSet(mean, std, device.Device), validation.ToLabelledSet(mean, std, device.Device), test.ToLabelledSet(mean, std, device.Device));
        int number = store.NextVersion();
        TorchSharp.torch.manual_seed(_options.Training.Seed + number);
        var outcome = learner.Learn(continual, progress, cancellationToken);

        // Heads follow the deployed version's task order; each keeps its held-out test set.
        var accuracy = new Dictionary<string, double>();
        var earlier = version?.TaskIds ?? [];
        for (int head = 0; head < earlier.Length; head++)
        {
            if (store.FindTask(earlier[head])?.TestBlob is not string testBlob)
            {
                continue;
            }

            ScaledSamples stored;
            try
            {
                stored = ModelFiles.ReadTestSet(store.Blobs.Get(testBlob));
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
            {
                // A damaged test set costs that task's accuracy figure, not the job.
                logger.LogError("Held-out test set of {TaskId} is unusable, its accuracy is not measured: {Reason}", earlier[head], e.Message);
                continue;
            }

            using var set = stored.ToLabelledSet(mean, std, device.Device);
            AddAccuracy(accuracy, earlier[head], Evaluator.Accuracy(session.Network, set, head));
        }

        AddAccuracy(accuracy, task.Id, Evaluator.Accuracy(session.Network, continual.Test, outcome.Head));
        var taskIds = (version?.TaskIds ?? []).Append(task.Id).ToList();
        var (model, state) = ModelFiles.Write(learner, _options, number, version?.Version ?? 0, taskIds);
        return new CommittedTask(task, outcome.Head, model, state, ModelFiles.WriteTestSet(test), session.Network.HeadClasses.ToArray(),
            outcome.MergeCoefficient, outcome.MemoryRanks, accuracy, outcome.Seconds);
    }

    // An empty held-out set (a task accepted before intake refused them) measures nothing: 0/0 is NaN, which no event,
    // record or JSON reply can carry, so the task simply has no accuracy figure.
    private void AddAccuracy(Dictionary<string, double> accuracy, string taskId, double percent)
    {
        if (double.IsFinite(percent))
        {
            accuracy[taskId] = Math.Round(percent, 2);
            return;
        }

        logger.LogWarning("Task {TaskId} has no usable held-out test set (accuracy {Accuracy}); it gets no accuracy figure", taskId, percent);
    }

    private string? GateVerdict(string taskId, IReadOnlyDictionary<string, double> accuracy, ModelVersionRecord? deployedVersion) =>
        DeploymentGate.Verdict(_options.Gate, taskId, accuracy, deployedVersion?.Accuracy, TestCount);

    private int TestCount(string taskId) =>
        store.FindTask(taskId) is { } t ? (int)Math.Min(Intake.DecodedTask.MaxTestSamples, Math.Floor(t.Samples * t.TestFraction)) : 1;

    /// <summary>
    /// Makes an older version current again; the next task continues from its memory and Fisher. Never waits for
    /// training: with no job in flight the version is deployed now; while a job trains, the version's files are checked
    /// now and the rollback is queued (a later one replaces it), to be applied as soon as that job has committed its own
    /// version. Null when the version does not exist; <see cref="RequestRejectedException"/> when its files are damaged.
    /// </summary>
    public async Task<RollbackResult?> RollbackAsync(int version, CancellationToken cancellationToken)
    {
        // Held by a job only at its start and end, and by a rollback for a model load: moments, never a training run.
        await _deployment.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_jobInFlight)
            {
                return await RollbackLockedAsync(version, cancellationToken).ConfigureAwait(false) is { } record
                    ? new RollbackResult(record.Version, Deployed: true, Queued: false)
                    : null;
            }

            if (store.FindVersion(version) is not { } candidate)
            {
                return null;
            }

            await CheckFilesAsync(candidate, cancellationToken).ConfigureAwait(false);
            if (_pendingRollback is int replaced && replaced != version)
            {
                logger.LogWarning("Queued rollback to version {Replaced} replaced by one to version {Version}", replaced, version);
            }

            _pendingRollback = version;
            logger.LogWarning("Rollback to version {Version} queued: a job is in flight; the version is deployed when it ends", version);
            return new RollbackResult(version, Deployed: false, Queued: true);
        }
        finally
        {
            _deployment.Release();
        }
    }

    // The job's end: the queued rollback (if any) is applied after the job's own version was committed, so the
    // operator's explicit choice, which came later, is what serves.
    private async Task EndJobAsync(CancellationToken cancellationToken)
    {
        await _deployment.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            _jobInFlight = false;
            if (_pendingRollback is not int version)
            {
                return;
            }

            _pendingRollback = null;
            try
            {
                await RollbackLockedAsync(version, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _lastError = $"queued rollback to version {version}: {e.Message}";
                logger.LogError(e, "The queued rollback to version {Version} could not be applied: {Reason}", version, e.Message);
            }
        }
        finally
        {
            _deployment.Release();
        }
    }

    private async Task<ModelVersionRecord?> RollbackLockedAsync(int version, CancellationToken cancellationToken)
    {
        var candidate = store.FindVersion(version);
        if (candidate is null)
        {
            return null;
        }

        // Check the files before the deployed pointer moves: a damaged version must not become the one a restart loads.
        await CheckFilesAsync(candidate, cancellationToken).ConfigureAwait(false);
        var record = store.Deploy(version)!;

        LoadDeployed();
        logger.LogWarning("Rolled back: version {Version} deployed again", version);
        await events.PublishAsync(EventTypes.ModelDeployed, record.TaskId, new Dictionary<string, object?>
        {
            ["version"] = record.Version,
            ["accuracy"] = record.Accuracy,
            ["rollback"] = true,
        }, cancellationToken).ConfigureAwait(false);
        await PublishStatusAsync(cancellationToken).ConfigureAwait(false);
        return record;
    }

    /// <summary>Reads a version's model and state files against their sha256; a damaged one is marked, announced and refused.</summary>
    private async Task CheckFilesAsync(ModelVersionRecord candidate, CancellationToken cancellationToken)
    {
        int version = candidate.Version;
        try
        {
            store.Blobs.Get(candidate.ModelBlob);
            store.Blobs.Get(candidate.StateBlob);
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
        {
            logger.LogError("Rollback to model version {Version} refused: a file is missing or failed its checksum: {Reason}", version, e.Message);
            store.MarkCorrupt(version, e.Message);
            await events.PublishAsync(EventTypes.ModelCorrupt, candidate.TaskId, new Dictionary<string, object?>
            {
                ["version"] = version,
                ["fallbackVersion"] = deployed.Current.Version,
                ["reasons"] = new[] { $"version {version}: {e.Message}" },
                ["lostTasks"] = Array.Empty<string>(),
            }, cancellationToken).ConfigureAwait(false);
            throw new RequestRejectedException("corrupt_version", $"Version {version} cannot be deployed: {e.Message}");
        }
    }

    private static ScaledSamples Scaled(DecodedTask decoded)
    {
        // The decoded arrays belong to this job alone: scale in place rather than copy tens of MB.
        var inputs = decoded.Inputs;
        if (decoded.InputsAreBytes)
        {
            for (int i = 0; i < inputs.Length; i++)
            {
                inputs[i] /= 255f;
            }
        }

        return new ScaledSamples(inputs, decoded.Labels, decoded.Features);
    }

    private async Task PumpProgressAsync(string taskId, ChannelReader<EpochProgress> reader, CancellationToken cancellationToken)
    {
        await foreach (var p in reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            await events.PublishAsync(EventTypes.TrainingProgress, taskId, new Dictionary<string, object?>
            {
                ["stage"] = p.Stage,
                ["epoch"] = p.Epoch,
                ["epochs"] = _options.Training.Epochs,
                ["loss"] = Finite(p.TrainLoss, 5),
                ["validationLoss"] = Finite(p.ValidationLoss, 5),
                ["validationAccuracy"] = Finite(p.ValidationAccuracy, 2),
            }, cancellationToken).ConfigureAwait(false);
        }
    }

    // JSON has no NaN or infinity (a diverging epoch's loss): such a figure goes out as null rather than fail the event.
    private static double? Finite(double value, int digits) => double.IsFinite(value) ? Math.Round(value, digits) : null;

    private Task PublishStatusAsync(CancellationToken cancellationToken) => events.PublishStatusAsync(Status(), cancellationToken);

    private Action<int> Pause(string taskId, CancellationToken cancellationToken) =>
        stage => _pause.At(stage == 1 ? TestPause.Stage1 : TestPause.Stage2, taskId, logger, cancellationToken);

    /// <summary>Progress that only queues (the training thread must not wait on the network); each epoch is a heartbeat.</summary>
    private sealed class ChannelProgress(ChannelWriter<EpochProgress> writer, AgentHeartbeat heartbeat, Action<int> pause) : IProgress<EpochProgress>
    {
        public void Report(EpochProgress value)
        {
            heartbeat.Beat();
            writer.TryWrite(value);
            pause(value.Stage);
        }
    }

    /// <summary>A job's committed version with what the gate decided against the version deployed before it.</summary>
    private sealed record Committed(CommittedTask Task, ModelVersionRecord Version, ModelVersionRecord? Previous, string? Gate);

    /// <summary>What start-up found when the deployed version's files failed their checksum.</summary>
    private sealed record StartupFallback(int CorruptVersion, int FallbackVersion, IReadOnlyList<string> Reasons, IReadOnlyList<string> LostTasks);
}

/// <summary>The answer to a rollback: deployed now, or queued behind the job in flight.</summary>
/// <param name="Version">The version asked for.</param>
/// <param name="Deployed">True when it serves now.</param>
/// <param name="Queued">True when it is applied as the job in flight ends.</param>
public sealed record RollbackResult(int Version, bool Deployed, bool Queued);
