using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Intake;
using Became.Agent.Observability;
using Became.Agent.Storage;
using Became.Core.Data;
using Became.Core.Models;
using Became.Core.Native;
using Became.Core.Training;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Jobs;

/// <summary>A learned task's version, not yet committed: its files and figures, and the network that holds its weights
/// (measured, and served as it is if the gate lets it: the network is built once per job).</summary>
/// <param name="Files">What the commit stores.</param>
/// <param name="Network">The merged network; the caller owns it.</param>
public sealed record TrainedVersion(CommittedTask Files, IContinualNetwork Network);

/// <summary>
/// Learns one task on the job's own thread: rebuilds the learner from the deployed version, learns the task (two stages
/// and the merge), measures every head on its held-out test set and writes the new version's files (not yet committed).
/// </summary>
public sealed class TaskTrainer(AgentStore store, ITaskPayloadFormat format, HeldOutEvaluation heldOut, IOptions<AgentOptions> options, ComputeDevice device, AgentMetrics metrics, ILogger<TaskTrainer> logger)
{
    private readonly AgentOptions _options = options.Value;
    private bool _toldInitialWeightsIgnored;

    /// <summary>Trains <paramref name="task"/> on top of the deployed version into version <paramref name="number"/>;
    /// <paramref name="progress"/> hears each epoch with its samples/s.</summary>
    public TrainedVersion Train(TaskRecord task, int number, IProgress<EpochReport> progress, CancellationToken cancellationToken)
    {
        // libtorch's OpenMP thread count is per OS thread, and each job runs on a new one: set it here.
        TorchSharp.torch.set_num_threads(_options.Training.Threads);
        var version = store.Deployed();
        using var session = ModelFiles.Open(_options, version, store.Blobs, device);
        var learner = session.Learner;
        var initialWeights = StartBody(session.Network, version, task.Id);
        // Decoded here only: intake inspected it without building the inputs.
        var decoded = format.Decode(store.Blobs.Get(task.PayloadBlob!), _options.TaskLimits);
        var samples = Scaled(decoded);
        var (train, validation, test) = TaskSplit.Split(task.Id, samples, decoded.TestCount);
        double mean = _options.Model.NormalizationMean, std = _options.Model.NormalizationStd;
        TaskOutcome outcome;
        using (var continual = new ContinualTask(learner.TasksLearned, task.Id, decoded.Classes, train.ToLabelledSet(mean, std, device.Device), validation.ToLabelledSet(mean, std, device.Device), test.ToLabelledSet(mean, std, device.Device)))
        {
            // Dropout draws from the job's own generator, seeded by the version number: the same tasks give the same model,
            // whatever else uses the process's global generator.
            using var dropout = new TorchSharp.torch.Generator(unchecked((ulong)(_options.Training.Seed + number)));
            session.Network.DropoutGenerator = dropout;
            try
            {
                outcome = learner.Learn(continual, new EpochRate(progress, train.Count), cancellationToken);
            }
            finally
            {
                session.Network.DropoutGenerator = null;
            }
        }

        metrics.Trained(outcome);

        // Heads follow the deployed version's task order; each keeps its held-out test set.
        var earlier = version?.TaskIds ?? [];
        var sets = earlier.Select((id, head) => (id, head, blob: store.FindTask(id)?.TestBlob))
            .Where(e => e.blob is not null)
            .Select(e => new HeldOutSet(e.id, e.head, Blob: e.blob))
            .Append(new HeldOutSet(task.Id, outcome.Head, Samples: test));
        var scores = heldOut.Measure(session.Network, sets, learner.ClassStatistics);
        var taskIds = earlier.Append(task.Id).ToList();
        var (model, state) = ModelFiles.Write(learner, _options, number, version?.Version ?? 0, taskIds, initialWeights);
        var files = new CommittedTask(task, number, outcome.Head, model, state, ModelFiles.WriteTestSet(test), session.Network.HeadClasses.ToArray(),
            outcome.MergeCoefficient, outcome.MemoryRanks, scores.Accuracy, outcome.Seconds)
        {
            TaskAgnosticAccuracy = scores.TaskAgnosticAccuracy,
        };
        return new TrainedVersion(files, session.ReleaseNetwork());
    }

    /// <summary>The device's first network (no version yet) starts its body from <c>Model:InitialWeights</c>, when set:
    /// read and checked again here (the file may have changed since start-up), its heads ignored. Returns what the model
    /// file's metadata records, or null when the body is the family's own or a version's learned one.</summary>
    private (string File, string Sha256)? StartBody(IContinualNetwork network, ModelVersionRecord? version, string taskId)
    {
        if (string.IsNullOrWhiteSpace(_options.Model.InitialWeights))
        {
            return null;
        }

        string path = _options.Model.InitialWeights;
        if (version is not null)
        {
            if (!_toldInitialWeightsIgnored)
            {
                _toldInitialWeightsIgnored = true;
                logger.LogInformation("Model:InitialWeights {Path} is ignored: the device has version {Version}, whose learned body continues", path, version.Version);
            }

            return null;
        }

        var weights = InitialWeights.Read(path);
        var load = weights.LoadInto(network, _options.Model.NetworkDescription);
        logger.LogInformation(
            "Task {TaskId}: the body starts from the initial weights {Path} (sha256 {Sha256}, {Tensors} tensors); {Heads} head tensors in the file ignored, the heads are new",
            taskId, path, weights.Sha256, load.BodyTensors, load.IgnoredHeadTensors);
        return (Path.GetFileName(path), weights.Sha256);
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
}
