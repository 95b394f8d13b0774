using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Intake;
using Became.Agent.Observability;
using Became.Agent.Storage;
using Became.Core.Data;
using Became.Core.Evaluation;
using Became.Core.Native;
using Became.Core.Training;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Jobs;

/// <summary>
/// Learns one task on the job's own thread: rebuilds the learner from the deployed version, learns the task (two stages
/// and the merge), measures every head on its held-out test set and writes the new version's files (not yet committed).
/// </summary>
public sealed class TaskTrainer(AgentStore store, IOptions<AgentOptions> options, ComputeDevice device, ILogger<TaskTrainer> logger, AgentMetrics? metrics = null)
{
    private readonly AgentOptions _options = options.Value;

    /// <summary>Trains <paramref name="task"/> on top of the deployed version; <paramref name="progress"/> hears each epoch with its samples/s.</summary>
    public CommittedTask Train(TaskRecord task, IProgress<EpochReport> progress, CancellationToken cancellationToken)
    {
        // libtorch's OpenMP thread count is per OS thread, and each job runs on a new one: set it here.
        TorchSharp.torch.set_num_threads(_options.Training.Threads);
        var version = store.Deployed();
        using var session = ModelFiles.Open(_options, version, store.Blobs, device);
        var learner = session.Learner;
        var decoded = TaskPayloadFormats.Default.Decode(store.Blobs.Get(task.PayloadBlob!), new TaskPayloadLimits(_options.Model.Features, _options.Limits.MaxPayloadBytes, _options.Limits.MaxSamplesPerTask));
        var samples = Scaled(decoded);
        var (train, validation, test) = TaskSplit.Split(task.Id, samples, decoded.TestCount);
        double mean = _options.Model.NormalizationMean, std = _options.Model.NormalizationStd;
        using var continual = new ContinualTask(learner.TasksLearned, task.Id, decoded.Classes, train.ToLabelledSet(mean, std, device.Device), validation.ToLabelledSet(mean, std, device.Device), test.ToLabelledSet(mean, std, device.Device));
        int number = store.NextVersion();
        TorchSharp.torch.manual_seed(_options.Training.Seed + number);
        var outcome = learner.Learn(continual, new EpochRate(progress, train.Count), cancellationToken);
        metrics?.Trained(outcome);

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
