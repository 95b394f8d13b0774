using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Protocol;
using Microsoft.Extensions.Logging;

namespace Became.Agent.Deployment;

/// <summary>
/// cmd/rollback: makes an older version current again; the next task continues from its memory and Fisher. Never waits
/// for training: with no job in flight the version is deployed before the answer; while a job trains, the version's files
/// are checked now and the rollback is queued behind the job (<see cref="DeploymentQueue"/>).
/// </summary>
public sealed class VersionRollback(
    AgentStore store,
    DeploymentQueue queue,
    ServedModelLoader loader,
    DeployedModel deployed,
    IAgentEvents events,
    DeviceStatus status,
    ILogger<VersionRollback> logger)
{
    /// <summary>Deploys or queues <paramref name="version"/>. Null when it does not exist; <see cref="RequestRejectedException"/>
    /// (corrupt_version) when its files are damaged.</summary>
    public async Task<RollbackResult?> RequestAsync(int version, CancellationToken cancellationToken)
    {
        if (store.FindVersion(version) is not { } candidate)
        {
            return null;
        }

        // Checked before anything is queued: a damaged version must not become the one a restart loads.
        await CheckFilesAsync(candidate, cancellationToken).ConfigureAwait(false);
        var command = new RollbackCommand(this, version);
        if (queue.Submit(command))
        {
            return new RollbackResult(version, Deployed: false, Queued: true);
        }

        await command.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        return command.Deployed is null ? null : new RollbackResult(version, Deployed: true, Queued: false);
    }

    /// <summary>On the worker: checks the files again (they may have been damaged while queued), moves the pointer, serves.</summary>
    private async Task<ModelVersionRecord?> ApplyAsync(int version, CancellationToken cancellationToken)
    {
        if (store.FindVersion(version) is not { } candidate)
        {
            return null;
        }

        await CheckFilesAsync(candidate, cancellationToken).ConfigureAwait(false);
        var record = store.Deploy(version)!;
        loader.Serve(record);
        logger.LogDebug("Rolled back: version {Version} deployed again", version);
        await events.PublishAsync(record.TaskId, new ModelDeployed(
            Version: record.Version,
            Accuracy: record.Accuracy,
            Rollback: true,
            TaskAgnosticAccuracy: record.TaskAgnosticAccuracy), cancellationToken).ConfigureAwait(false);
        await events.PublishStatusAsync(status.Current(), cancellationToken).ConfigureAwait(false);
        return record;
    }

    /// <summary>Reads a version's model and state files against their sha256; a damaged one is marked, announced and refused.</summary>
    private async Task CheckFilesAsync(ModelVersionRecord candidate, CancellationToken cancellationToken)
    {
        int version = candidate.Version;
        try
        {
            loader.CheckFiles(candidate);
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
        {
            logger.LogError("Rollback to model version {Version} refused: a file is missing or failed its checksum: {Reason}", version, e.Message);
            store.MarkCorrupt(version, e.Message);
            await events.PublishAsync(candidate.TaskId, new ModelCorrupt(
                Version: version,
                FallbackVersion: deployed.Current.Version,
                Reasons: [$"version {version}: {e.Message}"],
                LostTasks: []), cancellationToken).ConfigureAwait(false);
            throw new RequestRejectedException(ErrorCodes.CorruptVersion, $"Version {version} cannot be deployed: {e.Message}");
        }
    }

    /// <summary>A rollback on the deployment queue.</summary>
    private sealed class RollbackCommand(VersionRollback rollback, int version) : DeploymentCommand
    {
        public override string Description => $"rollback to version {version}";

        /// <summary>The version deployed, once run (null: it no longer existed).</summary>
        public ModelVersionRecord? Deployed { get; private set; }

        protected override async Task ExecuteAsync(CancellationToken cancellationToken) =>
            Deployed = await rollback.ApplyAsync(version, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>The answer to a rollback: deployed now, or queued behind the job in flight.</summary>
/// <param name="Version">The version asked for.</param>
/// <param name="Deployed">True when it serves now.</param>
/// <param name="Queued">True when it is applied as the job in flight ends.</param>
public sealed record RollbackResult(int Version, bool Deployed, bool Queued);
