using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Protocol;
using Microsoft.Extensions.Logging;

namespace Became.Agent.Deployment;

/// <summary>
/// Start-up: serves the deployed version, checking every file against its sha256. A corrupt or missing model or state
/// file is logged, the version is marked, and the newest intact ancestor (or none) is deployed instead, so the agent
/// starts serving the last good model rather than failing; <see cref="AnnounceAsync"/> announces it (model.corrupt)
/// once events can go out.
/// </summary>
public sealed class StartupDeployment(AgentStore store, ServedModelLoader loader, IAgentEvents events, DeviceStatus status, ILogger<StartupDeployment> logger)
{
    private StartupFallback? _fallback;

    /// <summary>Serves the deployed version, or the newest intact ancestor when its files are damaged.</summary>
    public void Load()
    {
        var deployedVersion = store.Deployed();
        var candidate = deployedVersion;
        var problems = new List<string>();
        while (candidate is not null)
        {
            try
            {
                loader.Serve(candidate);
                logger.LogInformation("Deployed model version {Version} loaded: {Tasks} tasks, memory ranks [{Ranks}]", candidate.Version, candidate.TaskIds.Length, string.Join(", ", candidate.MemoryRanks));
                break;
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
            {
                logger.LogError("Model version {Version} has a missing file or failed its checksum at start-up and will not be served: {Reason}", candidate.Version, e.Message);
                store.MarkCorrupt(candidate.Version, e.Message);
                problems.Add($"version {candidate.Version}: {e.Message}");
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
            loader.Serve(null);
        }

        var lost = (deployedVersion?.TaskIds ?? []).Except(candidate?.TaskIds ?? []).ToArray();
        logger.LogError(
            "Fell back from model version {Corrupt} to version {Fallback}; tasks no longer in the deployed model: [{Lost}]",
            deployedVersion!.Version, candidate?.Version ?? 0, string.Join(", ", lost));
        _fallback = new StartupFallback(deployedVersion.Version, candidate?.Version ?? 0, problems, lost);

        // Set now: the first status goes out as soon as MQTT connects, before the worker announces the fallback.
        status.SetError($"model version {deployedVersion.Version} corrupt; serving version {candidate?.Version ?? 0}");
    }

    /// <summary>Announces (model.corrupt) what <see cref="Load"/> fell back from, if it did.</summary>
    public async Task AnnounceAsync(CancellationToken cancellationToken)
    {
        if (_fallback is not { } fallback)
        {
            return;
        }

        await events.PublishAsync(null, new ModelCorrupt(
            Version: fallback.CorruptVersion,
            FallbackVersion: fallback.FallbackVersion,
            Reasons: fallback.Reasons,
            LostTasks: fallback.LostTasks), cancellationToken).ConfigureAwait(false);
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

    /// <summary>What start-up found when the deployed version's files failed their checksum.</summary>
    private sealed record StartupFallback(int CorruptVersion, int FallbackVersion, IReadOnlyList<string> Reasons, IReadOnlyList<string> LostTasks);
}
