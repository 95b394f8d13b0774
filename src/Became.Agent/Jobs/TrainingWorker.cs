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

    // Jobs and rollbacks both move the deployed pointer: one at a time.
    private readonly SemaphoreSlim _deployment = new(1, 1);
    private string? _lastError;

    /// <summary>The state published in status: idle or training.</summary>
    public string State { get; private set; } = "idle";

    /// <summary>Loads the stored deployed version into the serving holder (called at start-up).</summary>
    public void LoadDeployed()
    {
        var version = store.Deployed();
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
        new(state ?? State, deployed.Current.Version, store.QueueLength, deployed.Current.TaskIds.Count, _lastError, DateTimeOffset.UtcNow);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Training is CPU-bound: leave the host's start-up thread at once.
        await Task.Yield();
        TorchSharp.torch.set_num_threads(_options.Training.Threads);
        await PublishStatusAsync(stoppingToken).ConfigureAwait(false);
        while (!stoppingToken.IsCancellationRequested)
        {
            heartbeat.Beat();
            var next = store.QueuedTasks().FirstOrDefault();
            if (next is null)
            {
                // Short, so an idle worker keeps beating for the systemd watchdog.
                await signal.WaitAsync(TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(false);
                continue;
            }

            await RunJobAsync(next, stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task RunJobAsync(TaskRecord task, CancellationToken cancellationToken)
    {
        await _deployment.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await RunJobLockedAsync(task, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _deployment.Release();
        }
    }

    private async Task RunJobLockedAsync(TaskRecord task, CancellationToken cancellationToken)
    {
        State = "training";
        await PublishStatusAsync(cancellationToken).ConfigureAwait(false);
        var progress = Channel.CreateUnbounded<EpochProgress>();
        var pump = PumpProgressAsync(task.Id, progress.Reader, cancellationToken);
        try
        {
            var clock = Stopwatch.StartNew();
            var committed = await Task.Run(() => Train(task, new ChannelProgress(progress.Writer, heartbeat), cancellationToken), cancellationToken).ConfigureAwait(false);
            progress.Writer.TryComplete();
            await pump.ConfigureAwait(false);
            var previous = store.Deployed();
            string? gate = GateVerdict(task.Id, committed.Accuracy, previous);
            var version = store.Commit(committed, gate);
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
                await DeployAsync(task, committed, version, clock.Elapsed, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogInformation("Training of {TaskId} interrupted by shutdown; it stays queued and restarts from the beginning", task.Id);
            throw;
        }
        catch (Exception e)
        {
            _lastError = $"{task.Id}: {e.Message}";
            logger.LogError(e, "Job {TaskId} failed", task.Id);
            store.MarkFailed(task.Id, e.Message);
            await events.PublishAsync(EventTypes.JobFailed, task.Id, new Dictionary<string, object?> { ["reason"] = e.Message }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            progress.Writer.TryComplete();
            State = "idle";

            // A job leaves tens of MB of large arrays and tensor wrappers behind; a device that idles for hours
            // between tasks should give that memory back now rather than whenever the next allocation comes.
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }

        await PublishStatusAsync(cancellationToken).ConfigureAwait(false);
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

            using var set = ModelFiles.ReadTestSet(store.Blobs.Get(testBlob)).ToLabelledSet(mean, std, device.Device);
            accuracy[earlier[head]] = Math.Round(Evaluator.Accuracy(session.Network, set, head), 2);
        }

        accuracy[task.Id] = Math.Round(Evaluator.Accuracy(session.Network, continual.Test, outcome.Head), 2);
        var taskIds = (version?.TaskIds ?? []).Append(task.Id).ToList();
        var (model, state) = ModelFiles.Write(learner, _options, number, version?.Version ?? 0, taskIds);
        return new CommittedTask(task, outcome.Head, model, state, ModelFiles.WriteTestSet(test), session.Network.HeadClasses.ToArray(),
            outcome.MergeCoefficient, outcome.MemoryRanks, accuracy, outcome.Seconds);
    }

    private string? GateVerdict(string taskId, IReadOnlyDictionary<string, double> accuracy, ModelVersionRecord? deployedVersion) =>
        DeploymentGate.Verdict(_options.Gate, taskId, accuracy, deployedVersion?.Accuracy, TestCount);

    private int TestCount(string taskId) =>
        store.FindTask(taskId) is { } t ? (int)Math.Min(Intake.DecodedTask.MaxTestSamples, Math.Floor(t.Samples * t.TestFraction)) : 1;

    /// <summary>Makes an older version current again; the next task continues from its memory and Fisher.</summary>
    public async Task<ModelVersionRecord?> RollbackAsync(int version, CancellationToken cancellationToken)
    {
        await _deployment.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RollbackLockedAsync(version, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _deployment.Release();
        }
    }

    private async Task<ModelVersionRecord?> RollbackLockedAsync(int version, CancellationToken cancellationToken)
    {
        var record = store.Deploy(version);
        if (record is null)
        {
            return null;
        }

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
                ["loss"] = Math.Round(p.TrainLoss, 5),
                ["validationLoss"] = Math.Round(p.ValidationLoss, 5),
                ["validationAccuracy"] = Math.Round(p.ValidationAccuracy, 2),
            }, cancellationToken).ConfigureAwait(false);
        }
    }

    private Task PublishStatusAsync(CancellationToken cancellationToken) => events.PublishStatusAsync(Status(), cancellationToken);

    /// <summary>Progress that only queues (the training thread must not wait on the network); each epoch is a heartbeat.</summary>
    private sealed class ChannelProgress(ChannelWriter<EpochProgress> writer, AgentHeartbeat heartbeat) : IProgress<EpochProgress>
    {
        public void Report(EpochProgress value)
        {
            heartbeat.Beat();
            writer.TryWrite(value);
        }
    }
}
