using Became.Agent.Configuration;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Core.Native;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Deployment;

/// <summary>
/// Moves the deployed pointer and the served model: loads the deployed version (at start-up falling back to the newest
/// intact ancestor), swaps in a job's new version and rolls back to an older one. Jobs and rollbacks both move the
/// pointer, one at a time: a job holds the lock only as it starts and ends (<see cref="BeginJobAsync"/>,
/// <see cref="EndJobAsync"/>); a rollback that finds a job in flight is queued and applied as that job ends.
/// </summary>
public sealed class ModelDeployment(
    AgentStore store,
    DeployedModel deployed,
    IAgentEvents events,
    DeviceStatus status,
    IOptions<AgentOptions> options,
    ComputeDevice device,
    ILogger<ModelDeployment> logger) : IDisposable
{
    private readonly AgentOptions _options = options.Value;

    // Guards _jobInFlight and _pendingRollback; held for moments (a model load), never for a training run.
    private readonly SemaphoreSlim _lock = new(1, 1);
    private bool _jobInFlight;
    private int? _pendingRollback;
    private Func<CancellationToken, Task>? _pendingAdoption;
    private StartupFallback? _fallback;

    /// <summary>The version that serves now (0 before the first model).</summary>
    public int ServingVersion => deployed.Current.Version;

    /// <summary>
    /// Start-up: loads the deployed version, checking every file against its sha256. A corrupt or missing model or
    /// state file is logged, the version is marked, and the newest intact ancestor (or none) is deployed instead, so
    /// the agent starts serving the last good model rather than failing; <see cref="AnnounceStartupFallbackAsync"/>
    /// announces it (model.corrupt) once events can go out.
    /// </summary>
    public void LoadAtStartup()
    {
        var deployedVersion = store.Deployed();
        var candidate = deployedVersion;
        var problems = new List<string>();
        while (candidate is not null)
        {
            try
            {
                Load(candidate, atStartup: true);
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
        status.SetError($"model version {deployedVersion.Version} corrupt; serving version {candidate?.Version ?? 0}");
    }

    /// <summary>Announces (model.corrupt) what <see cref="LoadAtStartup"/> fell back from, if it did.</summary>
    public async Task AnnounceStartupFallbackAsync(CancellationToken cancellationToken)
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

    /// <summary>Loads the stored deployed version into the serving holder.</summary>
    public void Load() => Load(store.Deployed());

    /// <summary>A job starts: from now on a rollback is queued rather than applied.</summary>
    public async Task BeginJobAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        _jobInFlight = true;
        _lock.Release();
    }

    /// <summary>
    /// The job's end: the queued rollback (if any) is applied after the job's own version was committed, so the
    /// operator's explicit choice, which came later, is what serves.
    /// </summary>
    public async Task EndJobAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            _jobInFlight = false;
            if (_pendingAdoption is { } adoption)
            {
                _pendingAdoption = null;
                await ApplyQueuedAdoptionAsync(adoption, cancellationToken).ConfigureAwait(false);
                return;
            }

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
                status.SetError($"queued rollback to version {version}: {e.Message}");
                logger.LogError(e, "The queued rollback to version {Version} could not be applied: {Reason}", version, e.Message);
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Makes an older version current again; the next task continues from its memory and Fisher. Never waits for
    /// training: with no job in flight the version is deployed now; while a job trains, the version's files are checked
    /// now and the rollback is queued (a later one replaces it), to be applied as soon as that job has committed its own
    /// version. Null when the version does not exist; <see cref="RequestRejectedException"/> when its files are damaged.
    /// </summary>
    public async Task<RollbackResult?> RollbackAsync(int version, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
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
            _pendingAdoption = null;
            logger.LogWarning("Rollback to version {Version} queued: a job is in flight; the version is deployed when it ends", version);
            return new RollbackResult(version, Deployed: false, Queued: true);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Runs an adoption's deployment step (gate, commit, swap) now, or, while a job trains, queues it to run as that job
    /// ends, as a rollback is; the later of a queued rollback and a queued adoption wins. True when it ran now.
    /// </summary>
    public async Task<bool> AdoptOrQueueAsync(Func<CancellationToken, Task> apply, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_jobInFlight)
            {
                await apply(cancellationToken).ConfigureAwait(false);
                return true;
            }

            _pendingAdoption = apply;
            _pendingRollback = null;
            logger.LogWarning("Adoption queued: a job is in flight; the adopted version is gated and deployed when it ends");
            return false;
        }
        finally
        {
            _lock.Release();
        }
    }

    public void Dispose() => _lock.Dispose();

    private async Task ApplyQueuedAdoptionAsync(Func<CancellationToken, Task> adoption, CancellationToken cancellationToken)
    {
        try
        {
            await adoption(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            status.SetError($"queued adoption: {e.Message}");
            logger.LogError(e, "The queued adoption could not be applied: {Reason}", e.Message);
        }
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

    // At start-up the loaded version gets a console line; after a job or rollback its model.deployed event says it.
    private void Load(ModelVersionRecord? version, bool atStartup = false)
    {
        if (version is null)
        {
            deployed.Swap(DeployedSnapshot.None);
            return;
        }

        using var session = ModelFiles.Open(_options, version, store.Blobs, device);
        deployed.Swap(new DeployedSnapshot(version.Version, version.TaskIds, session.ReleaseNetwork(), version.ModelBlob));
        logger.Log(atStartup ? LogLevel.Information : LogLevel.Debug, "Deployed model version {Version} loaded: {Tasks} tasks, memory ranks [{Ranks}]", version.Version, version.TaskIds.Length, string.Join(", ", session.Learner.Memory.Ranks));
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

        Load();
        logger.LogDebug("Rolled back: version {Version} deployed again", version);
        await events.PublishAsync(record.TaskId, new ModelDeployed(
            Version: record.Version,
            Accuracy: record.Accuracy,
            Rollback: true), cancellationToken).ConfigureAwait(false);
        await events.PublishStatusAsync(status.Current(), cancellationToken).ConfigureAwait(false);
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
            await events.PublishAsync(candidate.TaskId, new ModelCorrupt(
                Version: version,
                FallbackVersion: deployed.Current.Version,
                Reasons: new[] { $"version {version}: {e.Message}" },
                LostTasks: Array.Empty<string>()), cancellationToken).ConfigureAwait(false);
            throw new RequestRejectedException(ErrorCodes.CorruptVersion, $"Version {version} cannot be deployed: {e.Message}");
        }
    }

    /// <summary>What start-up found when the deployed version's files failed their checksum.</summary>
    private sealed record StartupFallback(int CorruptVersion, int FallbackVersion, IReadOnlyList<string> Reasons, IReadOnlyList<string> LostTasks);
}

/// <summary>The answer to a rollback: deployed now, or queued behind the job in flight.</summary>
/// <param name="Version">The version asked for.</param>
/// <param name="Deployed">True when it serves now.</param>
/// <param name="Queued">True when it is applied as the job in flight ends.</param>
public sealed record RollbackResult(int Version, bool Deployed, bool Queued);
