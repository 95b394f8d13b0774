using LiteDB;

namespace Became.Agent.Storage;

// Part of the class: the store's marks on tasks and versions as jobs fail, retry, start or find damaged files.
public sealed partial class AgentStore
{
    /// <summary>Marks a queued task as failed with its reason; it leaves the queue. A task already committed (learned
    /// or held back by the gate) stays as it is: false then.</summary>
    public bool MarkFailed(string taskId, string reason)
    {
        return Locked(() =>
        {
            var task = _tasks.FindById(taskId);
            if (task is null || task.State is not (TaskState.Queued or TaskState.Failed))
            {
                return false;
            }

            task.State = TaskState.Failed;
            task.Error = reason;
            _tasks.Update(task);
            _db.Checkpoint();
            return true;
        });
    }

    /// <summary>Keeps a task queued after a transient failure: counts the attempt, keeps the reason, and holds the
    /// task back until <paramref name="retryAt"/>.</summary>
    public void MarkRetry(string taskId, string reason, DateTime retryAt)
    {
        Locked(() =>
        {
            var task = _tasks.FindById(taskId);
            if (task is null)
            {
                return;
            }

            task.Attempts++;
            task.Error = reason;
            task.RetryAt = retryAt;
            task.StartedAt = null;
            _tasks.Update(task);
            _db.Checkpoint();
        });
    }

    /// <summary>Records that a job starts on the task, so a restart can tell that it was interrupted.</summary>
    public void MarkStarted(string taskId)
    {
        Locked(() =>
        {
            var task = _tasks.FindById(taskId);
            if (task is null)
            {
                return;
            }

            task.StartedAt = DateTime.UtcNow;
            _tasks.Update(task);
            _db.Checkpoint();
        });
    }

    /// <summary>Marks a version whose files failed their checksum, so it is never deployed again.</summary>
    public void MarkCorrupt(int version, string reason)
    {
        Locked(() =>
        {
            var record = _versions.FindById(version);
            if (record is null)
            {
                return;
            }

            record.Corrupt = reason;
            _versions.Update(record);
            _db.Checkpoint();
        });
    }

    /// <summary>Points the deployed pointer at a version, or at none (0) when no version is usable.</summary>
    public void SetDeployed(int version)
    {
        Locked(() =>
        {
            _settings.Upsert(new StoreSetting { Key = DeployedKey, Value = version });
            _db.Checkpoint();
        });
    }
}
