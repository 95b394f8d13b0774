using LiteDB;

namespace Became.Agent.Storage;

/// <summary>What a committed task brings: the new version's files and figures.</summary>
/// <param name="Task">The task learned.</param>
/// <param name="Version">The new version's number, chosen as the job started (written into the model file).</param>
/// <param name="Head">The head it got.</param>
/// <param name="ModelFile">Safetensors model (state dict + metadata).</param>
/// <param name="StateFile">Safetensors memory bases and accumulated Fisher.</param>
/// <param name="TestSetFile">Safetensors held-out test set of the task (kept after training).</param>
/// <param name="HeadClasses">Class count of every head, in order.</param>
/// <param name="MergeCoefficient">The merge coefficient, if there was a merge.</param>
/// <param name="MemoryRanks">Basis ranks after the task.</param>
/// <param name="Accuracy">Held-out accuracy of the new version on every task learned so far.</param>
/// <param name="TrainingSeconds">Seconds the learner took.</param>
public sealed record CommittedTask(
    TaskRecord Task,
    int Version,
    int Head,
    byte[] ModelFile,
    byte[] StateFile,
    byte[] TestSetFile,
    int[] HeadClasses,
    double? MergeCoefficient,
    int[] MemoryRanks,
    Dictionary<string, double> Accuracy,
    double TrainingSeconds)
{
    /// <summary>Held-out accuracy without a task id over every task's set, or null when not measured.</summary>
    public double? TaskAgnosticAccuracy { get; init; }
}

// Part of the class: the store's commit of a learned task and the moves of its deployed pointer.
public sealed partial class AgentStore
{
    /// <summary>Commits a learned task: blobs, then the version, the task's record and the deployed pointer in
    /// one transaction, then a checkpoint; then the training payload is deleted (the test set stays).</summary>
    /// <param name="committed">What the job produced.</param>
    /// <param name="gateReason">Why the gate holds the version back, or null to deploy it.</param>
    public ModelVersionRecord Commit(CommittedTask committed, string? gateReason = null)
    {
        string modelBlob = Blobs.Put(committed.ModelFile);
        string stateBlob = Blobs.Put(committed.StateFile);
        string testBlob = Blobs.Put(committed.TestSetFile);
        ModelVersionRecord version = null!;
        string? payload = null;
        Locked(() =>
        {
            _db.BeginTrans();
            try
            {
                int parent = (int)(_settings.FindById(DeployedKey)?.Value ?? 0);
                int number = ClaimVersion(committed.Version);
                var previous = parent == 0 ? null : _versions.FindById(parent);
                version = new ModelVersionRecord
                {
                    Version = number,
                    ParentVersion = parent,
                    TaskId = committed.Task.Id,
                    ModelBlob = modelBlob,
                    StateBlob = stateBlob,
                    HeadClasses = committed.HeadClasses,
                    TaskIds = [.. previous?.TaskIds ?? [], committed.Task.Id],
                    MergeCoefficient = committed.MergeCoefficient,
                    MemoryRanks = committed.MemoryRanks,
                    Accuracy = committed.Accuracy,
                    TaskAgnosticAccuracy = committed.TaskAgnosticAccuracy,
                    TrainingSeconds = committed.TrainingSeconds,
                    CreatedAt = DateTime.UtcNow,
                    GateReason = gateReason,
                };
                _versions.Insert(version);
                var task = _tasks.FindById(committed.Task.Id) ?? throw new InvalidOperationException($"Task {committed.Task.Id} vanished from the store.");
                payload = task.PayloadBlob;
                task.MarkIn(number, committed.Head, gateReason is null ? TaskState.Learned : TaskState.NotDeployed, testBlob);
                _tasks.Update(task);
                if (gateReason is null)
                {
                    _settings.Upsert(new StoreSetting { Key = DeployedKey, Value = number });
                }

                _faults.BeforeCommit(committed.Task.Id);
                _db.Commit();
            }
            catch
            {
                _db.Rollback();
                throw;
            }

            // Committed from here on, so nothing below may fail the call: the caller would take the task for not learned.
            // A failed checkpoint leaves the transaction in the log (replayed when the database is opened again).
            try
            {
                _db.Checkpoint();
            }
            catch (Exception e) when (IsStorageFailure(e))
            {
                _broken = true;
            }
        });

        try
        {
            if (payload is not null && payload != testBlob && !ReferencedBlobs().Contains(payload))
            {
                Blobs.Delete(payload);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LiteException)
        {
            // No record names the payload any more: the next start collects it.
        }

        return version;
    }

    /// <summary>The next version number, which must be the one the new version's files were written with: versions
    /// are committed one at a time (the deployment queue), so anything else is a bug, refused before it names a file wrongly.</summary>
    private int ClaimVersion(int expected)
    {
        int number = NextVersion();
        return number == expected
            ? number
            : throw new InvalidOperationException($"The new version was written as version {expected}, but the next version number is {number}.");
    }

    /// <summary>Makes a stored version the deployed one again (rollback); false when it does not exist.</summary>
    public ModelVersionRecord? Deploy(int version)
    {
        return Locked(() =>
        {
            var record = _versions.FindById(version);
            if (record is null)
            {
                return null;
            }

            _settings.Upsert(new StoreSetting { Key = DeployedKey, Value = version });
            _db.Checkpoint();
            return record;
        });
    }
}
