using Became.Agent.Configuration;
using Became.Agent.Intake;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Core.Models;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Deployment;

/// <summary>A version committed to the store, with what the gate decided against the version deployed before it.</summary>
/// <param name="Version">The committed record.</param>
/// <param name="Previous">The version deployed before (null: none).</param>
/// <param name="Gate">Why the gate held it back, or null to deploy it.</param>
/// <param name="Source">The peer it was adopted from (null: learned here).</param>
public sealed record CommittedVersion(ModelVersionRecord Version, ModelVersionRecord? Previous, string? Gate, AdoptedFrom? Source);

/// <summary>
/// The one path from a new version to the served model, for a job and an adoption alike: the gate against the deployed
/// version, the commit (with the version number chosen once, as the job or adoption started: nothing else commits in
/// between, see <see cref="DeploymentQueue"/>), then the swap of the network that was measured (never built again) and
/// the events. A version whose files fail their checksum as it is deployed is marked corrupt and the served model stays.
/// </summary>
public sealed class VersionCommitter(AgentStore store, ServedModelLoader loader, IAgentEvents events, DeviceStatus status, IOptions<AgentOptions> options, ILogger<VersionCommitter> logger)
{
    private readonly AgentOptions _options = options.Value;

    /// <summary>Gates and commits a learned task's version (its number is <see cref="CommittedTask.Version"/>).</summary>
    public CommittedVersion CommitLearned(CommittedTask committed)
    {
        var previous = store.Deployed();
        string? gate = DeploymentGate.Verdict(_options.Gate, committed.Task.Id, committed.Accuracy, previous?.Accuracy, TestCount(null));
        return new CommittedVersion(store.Commit(committed, gate), previous, gate, null);
    }

    /// <summary>Gates and commits an adopted version; <paramref name="peerTestCounts"/> sizes the held-out sets of the
    /// tasks this device has no record of (the peer's figures).</summary>
    public CommittedVersion CommitAdopted(AdoptedVersion adopted, IReadOnlyDictionary<string, int> peerTestCounts)
    {
        var previous = store.Deployed();
        string? gate = DeploymentGate.Verdict(_options.Gate, string.Empty, adopted.Accuracy, previous?.Accuracy, TestCount(peerTestCounts));
        var source = new AdoptedFrom(adopted.From.Device, adopted.From.Version);
        return new CommittedVersion(store.CommitAdopted(adopted, gate), previous, gate, source);
    }

    /// <summary>
    /// Announces the gate's refusal, or checks the committed files and serves <paramref name="network"/> as the new
    /// version (the committer owns it from here: it is served or disposed). True when the version serves now.
    /// </summary>
    public async Task<bool> DeployAsync(CommittedVersion committed, IContinualNetwork network, CancellationToken cancellationToken)
    {
        var (version, previous, gate, source) = committed;
        bool served = false;
        try
        {
            if (gate is not null)
            {
                logger.LogWarning("Version {Version} stored but not deployed: {Reason}", version.Version, gate);
                await events.PublishAsync(source is null ? version.TaskId : null, new ModelRejected(
                    Version: version.Version,
                    DeployedVersion: previous?.Version ?? 0,
                    Reason: gate,
                    Accuracy: version.Accuracy,
                    DeployedAccuracy: previous?.Accuracy,
                    AdoptedFrom: source), cancellationToken).ConfigureAwait(false);
                return false;
            }

            if (!await CheckFilesAsync(committed, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            loader.Swap(version, network);
            served = true;
        }
        finally
        {
            if (!served)
            {
                network.Dispose();
            }
        }

        var lost = (previous?.TaskIds ?? []).Except(version.TaskIds, StringComparer.Ordinal).ToArray();
        if (source is null && version.MergeCoefficient is { } a)
        {
            await events.PublishAsync(version.TaskId, new ModelMerged(MergeCoefficient: a), cancellationToken).ConfigureAwait(false);
        }

        await events.PublishAsync(source is null ? version.TaskId : null, new ModelDeployed(
            Version: version.Version,
            Accuracy: version.Accuracy,
            MemoryRanks: version.MemoryRanks,
            TrainingSeconds: source is null ? Math.Round(version.TrainingSeconds, 2) : null,
            AdoptedFrom: source,
            LostTasks: lost.Length > 0 ? lost : null,
            TaskAgnosticAccuracy: version.TaskAgnosticAccuracy), cancellationToken).ConfigureAwait(false);
        await events.PublishStatusAsync(status.Current(), cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>The files as written, read back against their sha256 before they serve: a disk that damages what it
    /// writes is caught now, not at the next start. A damaged version is marked and the pointer goes back to what serves.</summary>
    private async Task<bool> CheckFilesAsync(CommittedVersion committed, CancellationToken cancellationToken)
    {
        var version = committed.Version;
        try
        {
            loader.CheckFiles(version);
            return true;
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
        {
            int serving = loader.ServingVersion;
            status.SetError($"model version {version.Version} corrupt; serving version {serving}");
            logger.LogError("Version {Version} is committed, but its files failed their checksum as it was deployed; version {Serving} keeps serving: {Reason}", version.Version, serving, e.Message);
            store.MarkCorrupt(version.Version, e.Message);
            store.SetDeployed(serving);
            var servingTasks = store.FindVersion(serving)?.TaskIds ?? [];
            await events.PublishAsync(committed.Source is null ? version.TaskId : null, new ModelCorrupt(
                Version: version.Version,
                FallbackVersion: serving,
                Reasons: [$"version {version.Version}: {e.Message}"],
                LostTasks: version.TaskIds.Except(servingTasks, StringComparer.Ordinal).ToArray()), cancellationToken).ConfigureAwait(false);
            return false;
        }
    }

    private Func<string, int> TestCount(IReadOnlyDictionary<string, int>? peerTestCounts) => taskId =>
        store.FindTask(taskId) is { } t ? DecodedTask.TestCountOf(t.Samples, t.TestFraction)
        : peerTestCounts?.GetValueOrDefault(taskId) is int peer and > 0 ? peer : 1;
}
