using Became.Agent.Configuration;
using Became.Agent.Intake;
using Became.Agent.Storage;
using Became.Core.Evaluation;
using Became.Core.Models;
using Became.Core.Native;
using Became.Core.TaskAgnostic;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Deployment;

/// <summary>One task's held-out test set for a head: in memory (the job's new task) or a stored test-set blob.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Head">Its head in the network measured.</param>
/// <param name="Samples">The samples, when in memory.</param>
/// <param name="Blob">The stored test-set file, when not.</param>
public sealed record HeldOutSet(string TaskId, int Head, ScaledSamples? Samples = null, string? Blob = null);

/// <summary>A candidate's held-out figures.</summary>
/// <param name="Accuracy">Accuracy (percent, two decimals) per task, with its task id.</param>
/// <param name="TaskAgnosticAccuracy">Percent of every held-out sample whose task and class are both right without a
/// task id (two decimals), or null when the candidate keeps no class statistics for every task.</param>
public sealed record HeldOutScores(Dictionary<string, double> Accuracy, double? TaskAgnosticAccuracy);

/// <summary>Measures a candidate version on held-out test sets: the one copy job and adoption share.</summary>
public sealed class HeldOutEvaluation(AgentStore store, IOptions<AgentOptions> options, ComputeDevice device, ILogger<HeldOutEvaluation> logger)
{
    private readonly AgentOptions _options = options.Value;

    /// <summary>Accuracy per task and, with <paramref name="statistics"/> for every head, without a task id over all
    /// the sets; a damaged test set or an empty one (0/0) costs that task its figure, never the version.</summary>
    public HeldOutScores Measure(IContinualNetwork network, IEnumerable<HeldOutSet> sets, ClassFeatureMemory? statistics = null)
    {
        var accuracy = new Dictionary<string, double>(StringComparer.Ordinal);
        bool agnostic = statistics is not null && statistics.TaskCount == network.HeadCount && statistics.TaskCount > 0;
        long right = 0, total = 0;
        foreach (var set in sets)
        {
            ScaledSamples samples;
            try
            {
                samples = set.Samples ?? ModelFiles.ReadTestSet(store.Blobs.Get(set.Blob ?? throw new ArgumentException($"Held-out set of {set.TaskId} has neither samples nor a blob.", nameof(sets))));
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
            {
                logger.LogError("Held-out test set of {TaskId} is unusable, its accuracy is not measured: {Reason}", set.TaskId, e.Message);
                continue;
            }

            using var labelled = samples.ToLabelledSet(_options.Model.NormalizationMean, _options.Model.NormalizationStd, device.Device);
            double percent = Evaluator.Accuracy(network, labelled, set.Head);
            if (agnostic && labelled.Count > 0)
            {
                right += TaskAgnosticInference.CountRight(network, statistics!, labelled, set.Head).Right;
                total += labelled.Count;
            }

            // 0/0 is NaN, which no event, record or JSON reply can carry: such a task simply has no accuracy figure.
            if (double.IsFinite(percent))
            {
                accuracy[set.TaskId] = Math.Round(percent, 2);
            }
            else
            {
                logger.LogWarning("Task {TaskId} has no usable held-out test set (accuracy {Accuracy}); it gets no accuracy figure", set.TaskId, percent);
            }
        }

        return new HeldOutScores(accuracy, agnostic && total > 0 ? Math.Round(100.0 * right / total, 2) : null);
    }
}
