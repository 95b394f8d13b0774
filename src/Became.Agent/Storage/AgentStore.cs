using LiteDB;

namespace Became.Agent.Storage;

/// <summary>What a committed task brings: the new version's files and figures.</summary>
/// <param name="Task">The task learned.</param>
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
    int Head,
    byte[] ModelFile,
    byte[] StateFile,
    byte[] TestSetFile,
    int[] HeadClasses,
    double? MergeCoefficient,
    int[] MemoryRanks,
    Dictionary<string, double> Accuracy,
    double TrainingSeconds);

/// <summary>
/// The agent's local state: tasks, model versions and the deployed pointer in one LiteDB file (Direct mode,
/// owned by this process), tensors in content-addressed blob files. A task's commit writes the blobs first,
/// then one LiteDB transaction, then a checkpoint; a crash in between leaves only unreferenced blobs,
/// which start-up removes.
/// </summary>
public sealed class AgentStore : IDisposable
{
    private const string DeployedKey = "deployed";
    private const string SequenceKey = "sequence";
    private readonly LiteDatabase _db;
    private readonly ILiteCollection<TaskRecord> _tasks;
    private readonly ILiteCollection<ModelVersionRecord> _versions;
    private readonly ILiteCollection<StoreSetting> _settings;
    private readonly Lock _gate = new();

    public AgentStore(string dataDirectory, IStorageFaults? faults = null)
    {
        Directory.CreateDirectory(dataDirectory);
        DataDirectory = dataDirectory;
        Blobs = new BlobStore(Path.Combine(dataDirectory, "blobs"), faults);
        _db = new LiteDatabase(new ConnectionString { Filename = Path.Combine(dataDirectory, "became.db"), Connection = ConnectionType.Direct });
        _tasks = _db.GetCollection<TaskRecord>("tasks");
        _tasks.EnsureIndex(t => t.Sequence);
        _versions = _db.GetCollection<ModelVersionRecord>("versions");
        _settings = _db.GetCollection<StoreSetting>("settings");
        RemovedOrphans = Blobs.Collect(ReferencedBlobs());
    }

    public string DataDirectory { get; }

    public BlobStore Blobs { get; }

    /// <summary>Blobs removed at start-up because no record named them.</summary>
    public int RemovedOrphans { get; }

    public TaskRecord? FindTask(string id)
    {
        lock (_gate)
        {
            return _tasks.FindById(id);
        }
    }

    /// <summary>Stores an accepted task's payload and queues it; durable when this returns.</summary>
    public TaskRecord AddTask(string id, string? name, int classes, int samples, double testFraction, ReadOnlySpan<byte> payload)
    {
        string blob = Blobs.Put(payload);
        lock (_gate)
        {
            _db.BeginTrans();
            try
            {
                var sequence = (_settings.FindById(SequenceKey)?.Value ?? 0) + 1;
                _settings.Upsert(new StoreSetting { Key = SequenceKey, Value = sequence });
                var record = new TaskRecord
                {
                    Id = id,
                    Sequence = sequence,
                    Name = name,
                    Classes = classes,
                    Samples = samples,
                    TestFraction = testFraction,
                    State = TaskState.Queued,
                    PayloadSha256 = blob,
                    PayloadBlob = blob,
                    AcceptedAt = DateTime.UtcNow,
                };
                _tasks.Insert(record);
                _db.Commit();
                _db.Checkpoint();
                return record;
            }
            catch
            {
                _db.Rollback();
                throw;
            }
        }
    }

    /// <summary>Queued tasks in arrival order (including one whose training was interrupted).</summary>
    public IReadOnlyList<TaskRecord> QueuedTasks()
    {
        lock (_gate)
        {
            return _tasks.Find(t => t.State == TaskState.Queued).OrderBy(t => t.Sequence).ToList();
        }
    }

    public int QueueLength
    {
        get
        {
            lock (_gate)
            {
                return _tasks.Count(t => t.State == TaskState.Queued);
            }
        }
    }

    /// <summary>The deployed model version, or null before the first task is learned.</summary>
    public ModelVersionRecord? Deployed()
    {
        lock (_gate)
        {
            long version = _settings.FindById(DeployedKey)?.Value ?? 0;
            return version == 0 ? null : _versions.FindById((int)version);
        }
    }

    /// <summary>The number the next committed version will get.</summary>
    public int NextVersion()
    {
        lock (_gate)
        {
            return _versions.FindAll().Select(v => v.Version).DefaultIfEmpty(0).Max() + 1;
        }
    }

    public IReadOnlyList<ModelVersionRecord> Versions()
    {
        lock (_gate)
        {
            return _versions.FindAll().OrderBy(v => v.Version).ToList();
        }
    }

    /// <summary>Commits a learned task: blobs, then the version, the task's record and the deployed pointer in
    /// one transaction, then a checkpoint; then the training payload is deleted (the test set stays).</summary>
    /// <param name="committed">What the job produced.</param>
    /// <param name="gateReason">Why the gate holds the version back, or null to deploy it.</param>
    /// <param name="beforeTransactionCommit">Runs inside the transaction just before it commits (the test-only pause point).</param>
    public ModelVersionRecord Commit(CommittedTask committed, string? gateReason = null, Action? beforeTransactionCommit = null)
    {
        string modelBlob = Blobs.Put(committed.ModelFile);
        string stateBlob = Blobs.Put(committed.StateFile);
        string testBlob = Blobs.Put(committed.TestSetFile);
        ModelVersionRecord version;
        string? payload;
        lock (_gate)
        {
            _db.BeginTrans();
            try
            {
                int parent = (int)(_settings.FindById(DeployedKey)?.Value ?? 0);
                int number = NextVersion();
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
                    TrainingSeconds = committed.TrainingSeconds,
                    CreatedAt = DateTime.UtcNow,
                    GateReason = gateReason,
                };
                _versions.Insert(version);
                var task = _tasks.FindById(committed.Task.Id) ?? throw new InvalidOperationException($"Task {committed.Task.Id} vanished from the store.");
                payload = task.PayloadBlob;
                task.State = gateReason is null ? TaskState.Learned : TaskState.NotDeployed;
                task.Head = committed.Head;
                task.Version = number;
                task.TestBlob = testBlob;
                task.PayloadBlob = null;
                task.LearnedAt = DateTime.UtcNow;
                task.Error = null;
                task.RetryAt = null;
                task.StartedAt = null;
                _tasks.Update(task);
                if (gateReason is null)
                {
                    _settings.Upsert(new StoreSetting { Key = DeployedKey, Value = number });
                }

                beforeTransactionCommit?.Invoke();
                _db.Commit();
            }
            catch
            {
                _db.Rollback();
                throw;
            }

            _db.Checkpoint();
        }

        if (payload is not null && payload != testBlob && !ReferencedBlobs().Contains(payload))
        {
            Blobs.Delete(payload);
        }

        return version;
    }

    /// <summary>Makes a stored version the deployed one again (rollback); false when it does not exist.</summary>
    public ModelVersionRecord? Deploy(int version)
    {
        lock (_gate)
        {
            var record = _versions.FindById(version);
            if (record is null)
            {
                return null;
            }

            _settings.Upsert(new StoreSetting { Key = DeployedKey, Value = version });
            _db.Checkpoint();
            return record;
        }
    }

    public ModelVersionRecord? FindVersion(int version)
    {
        lock (_gate)
        {
            return _versions.FindById(version);
        }
    }

    public IReadOnlyList<TaskRecord> AllTasks()
    {
        lock (_gate)
        {
            return _tasks.FindAll().OrderBy(t => t.Sequence).ToList();
        }
    }

    /// <summary>Marks a task as failed with its reason; it leaves the queue.</summary>
    public void MarkFailed(string taskId, string reason)
    {
        lock (_gate)
        {
            var task = _tasks.FindById(taskId);
            if (task is null)
            {
                return;
            }

            task.State = TaskState.Failed;
            task.Error = reason;
            _tasks.Update(task);
            _db.Checkpoint();
        }
    }

    /// <summary>Keeps a task queued after a transient failure: counts the attempt, keeps the reason, and holds the
    /// task back until <paramref name="retryAt"/>.</summary>
    public void MarkRetry(string taskId, string reason, DateTime retryAt)
    {
        lock (_gate)
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
        }
    }

    /// <summary>Records that a job starts on the task, so a restart can tell that it was interrupted.</summary>
    public void MarkStarted(string taskId)
    {
        lock (_gate)
        {
            var task = _tasks.FindById(taskId);
            if (task is null)
            {
                return;
            }

            task.StartedAt = DateTime.UtcNow;
            _tasks.Update(task);
            _db.Checkpoint();
        }
    }

    /// <summary>Marks a version whose files failed their checksum, so it is never deployed again.</summary>
    public void MarkCorrupt(int version, string reason)
    {
        lock (_gate)
        {
            var record = _versions.FindById(version);
            if (record is null)
            {
                return;
            }

            record.Corrupt = reason;
            _versions.Update(record);
            _db.Checkpoint();
        }
    }

    /// <summary>Points the deployed pointer at a version, or at none (0) when no version is usable.</summary>
    public void SetDeployed(int version)
    {
        lock (_gate)
        {
            _settings.Upsert(new StoreSetting { Key = DeployedKey, Value = version });
            _db.Checkpoint();
        }
    }

    public void Dispose() => _db.Dispose();

    private HashSet<string> ReferencedBlobs()
    {
        lock (_gate)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var t in _tasks.FindAll())
            {
                if (t.PayloadBlob is not null) names.Add(t.PayloadBlob);
                if (t.TestBlob is not null) names.Add(t.TestBlob);
            }

            foreach (var v in _versions.FindAll())
            {
                names.Add(v.ModelBlob);
                names.Add(v.StateBlob);
            }

            return names;
        }
    }
}
