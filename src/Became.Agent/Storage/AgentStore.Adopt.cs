using Became.Protocol;

namespace Became.Agent.Storage;

/// <summary>A version adopted from a peer, its files already stored as blobs.</summary>
/// <param name="Version">This device's number for it, chosen as the adoption was applied (written into the model file).</param>
/// <param name="From">The peer and its version number.</param>
/// <param name="ModelBlob">The model file (written here, with this device's version number).</param>
/// <param name="StateBlob">The learner state (memory bases, importances, accumulated Fisher).</param>
/// <param name="HeadClasses">Class count of every head, in order.</param>
/// <param name="TaskIds">The tasks of the heads, in order.</param>
/// <param name="MemoryRanks">Basis rank of each shared layer.</param>
/// <param name="Accuracy">Held-out accuracy measured here on every task with a test set.</param>
/// <param name="Tasks">The adopted tasks this device has no record of yet, or has queued (or failed) but not learned.</param>
public sealed record AdoptedVersion(
    int Version,
    AdoptedSource From,
    string ModelBlob,
    string StateBlob,
    int[] HeadClasses,
    string[] TaskIds,
    int[] MemoryRanks,
    Dictionary<string, double> Accuracy,
    IReadOnlyList<AdoptedTask> Tasks)
{
    /// <summary>Held-out accuracy without a task id over every task's set, or null when not measured.</summary>
    public double? TaskAgnosticAccuracy { get; init; }
}

/// <summary>A task that comes with an adopted version: what intake would have recorded, and its held-out test set.</summary>
public sealed record AdoptedTask(string Id, string? Name, int Classes, int Samples, double TestFraction, string PayloadSha256, int Head, string? TestBlob);

// Part of the class: the commit of a version adopted from another device.
public sealed partial class AgentStore
{
    /// <summary>Commits an adopted version in one transaction: the version (parent: the deployed one), a record for each
    /// adopted task this device lacks (so a redelivery of it is a duplicate and its test set is measured by later jobs),
    /// the same task queued here marked learned by the adoption (it leaves the queue: learning it again would give it a
    /// second head), and the deployed pointer unless the gate held it back.</summary>
    public ModelVersionRecord CommitAdopted(AdoptedVersion adopted, string? gateReason)
    {
        return Locked(() =>
        {
            _db.BeginTrans();
            try
            {
                int parent = (int)(_settings.FindById(DeployedKey)?.Value ?? 0);
                int number = ClaimVersion(adopted.Version);
                var version = new ModelVersionRecord
                {
                    Version = number,
                    ParentVersion = parent,
                    TaskId = adopted.TaskIds.LastOrDefault() ?? string.Empty,
                    ModelBlob = adopted.ModelBlob,
                    StateBlob = adopted.StateBlob,
                    HeadClasses = adopted.HeadClasses,
                    TaskIds = adopted.TaskIds,
                    MemoryRanks = adopted.MemoryRanks,
                    Accuracy = adopted.Accuracy,
                    TaskAgnosticAccuracy = adopted.TaskAgnosticAccuracy,
                    CreatedAt = DateTime.UtcNow,
                    GateReason = gateReason,
                    AdoptedFrom = adopted.From,
                };
                _versions.Insert(version);
                long sequence = _settings.FindById(SequenceKey)?.Value ?? 0;
                foreach (var task in adopted.Tasks)
                {
                    if (_tasks.FindById(task.Id) is { } existing)
                    {
                        if (existing.State is TaskState.Queued or TaskState.Failed && gateReason is null)
                        {
                            existing.MarkIn(number, task.Head, TaskState.Learned, existing.TestBlob ?? task.TestBlob);
                            existing.AdoptedFrom = adopted.From.Device;
                            _tasks.Update(existing);
                        }

                        continue;
                    }

                    _tasks.Insert(new TaskRecord
                    {
                        Id = task.Id,
                        Sequence = ++sequence,
                        Name = task.Name,
                        Classes = task.Classes,
                        Samples = task.Samples,
                        TestFraction = task.TestFraction,
                        State = gateReason is null ? TaskState.Learned : TaskState.NotDeployed,
                        PayloadSha256 = task.PayloadSha256,
                        TestBlob = task.TestBlob,
                        Head = task.Head,
                        Version = number,
                        AcceptedAt = DateTime.UtcNow,
                        LearnedAt = DateTime.UtcNow,
                        AdoptedFrom = adopted.From.Device,
                    });
                }

                _settings.Upsert(new StoreSetting { Key = SequenceKey, Value = sequence });
                if (gateReason is null)
                {
                    _settings.Upsert(new StoreSetting { Key = DeployedKey, Value = number });
                }

                _db.Commit();
                _db.Checkpoint();
                return version;
            }
            catch
            {
                _db.Rollback();
                throw;
            }
        });
    }
}
