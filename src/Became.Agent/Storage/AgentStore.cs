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
    private readonly Lock _gate = new();
    private readonly string _databaseFile;
    private readonly DataDirectoryLock _lock;
    private LiteDatabase _db;
    private ILiteCollection<TaskRecord> _tasks;
    private ILiteCollection<ModelVersionRecord> _versions;
    private ILiteCollection<StoreSetting> _settings;

    // LiteDB fails every later call with the same error once a write failed (e.g. on a full disk); the database is
    // opened again on the next call instead, which replays its log, so the agent recovers once space is back.
    private bool _broken;

    public AgentStore(string dataDirectory, IStorageFaults? faults = null)
    {
        // Before LiteDB opens and orphan blobs are collected: a second agent on this directory stops here, touching nothing.
        _lock = DataDirectoryLock.Acquire(dataDirectory);
        DataDirectory = dataDirectory;
        Blobs = new BlobStore(Path.Combine(dataDirectory, "blobs"), faults);
        _databaseFile = Path.Combine(dataDirectory, "became.db");
        try
        {
            Open();
            RemovedOrphans = Blobs.Collect(ReferencedBlobs());
        }
        catch
        {
            _db?.Dispose();
            _lock.Dispose();
            throw;
        }
    }

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_db), nameof(_tasks), nameof(_versions), nameof(_settings))]
    private void Open()
    {
        // Task ids compare ordinally: a new file gets the binary collation; a file made with LiteDB's default
        // (culture, IgnoreCase) is opened as it is and rebuilt once (LiteDB refuses to open it with another collation).
        bool existed = File.Exists(_databaseFile);
        var db = new LiteDatabase(new ConnectionString { Filename = _databaseFile, Connection = ConnectionType.Direct, Collation = existed ? null : Collation.Binary }, StoreMapper.Create());
        try
        {
            if (existed && db.Pragma("COLLATION").AsString != Collation.Binary.ToString())
            {
                db.Rebuild(new LiteDB.Engine.RebuildOptions { Collation = Collation.Binary });
            }

            var tasks = db.GetCollection<TaskRecord>("tasks");
            tasks.EnsureIndex(t => t.Sequence);
            _versions = db.GetCollection<ModelVersionRecord>("versions");
            _settings = db.GetCollection<StoreSetting>("settings");
            _tasks = tasks;
            _db = db;
            RestoreCommittedTasks();
        }
        catch
        {
            // A half-opened database would keep the file busy for the next attempt.
            db.Dispose();
            throw;
        }
    }

    // Earlier versions marked a task failed when a step after its commit failed (an event that could not be written);
    // its version is stored and may be deployed, so it is learned.
    private void RestoreCommittedTasks()
    {
        foreach (var task in _tasks.Find(t => t.State == TaskState.Failed && t.Version != null).ToList())
        {
            var version = _versions.FindById(task.Version!.Value);
            if (version is null || version.TaskId != task.Id)
            {
                continue;
            }

            task.State = version.GateReason is null ? TaskState.Learned : TaskState.NotDeployed;
            task.Error = null;
            _tasks.Update(task);
        }
    }

    private static bool IsStorageFailure(Exception e) => e is IOException || e is LiteException { InnerException: IOException };

    /// <summary>Runs a store operation under the lock, reopening the database first if an I/O failure broke it.</summary>
    private T Locked<T>(Func<T> operation)
    {
        lock (_gate)
        {
            if (_broken)
            {
                try
                {
                    _db.Dispose();
                }
                catch (Exception e) when (IsStorageFailure(e))
                {
                    // The broken instance may fail to flush on the way out; the log replay on opening covers it.
                }

                Open();
                _broken = false;
            }

            try
            {
                return operation();
            }
            catch (Exception e) when (IsStorageFailure(e))
            {
                _broken = true;
                throw;
            }
        }
    }

    private void Locked(Action operation) => Locked(() =>
    {
        operation();
        return 0;
    });

    public string DataDirectory { get; }

    public BlobStore Blobs { get; }

    /// <summary>Blobs removed at start-up because no record named them.</summary>
    public int RemovedOrphans { get; }

    public TaskRecord? FindTask(string id)
    {
        return Locked(() =>
        {
            return _tasks.FindById(id);
        });
    }

    /// <summary>Stores an accepted task's payload and queues it; durable when this returns.</summary>
    public TaskRecord AddTask(string id, string? name, int classes, int samples, double testFraction, ReadOnlySpan<byte> payload)
    {
        string blob = Blobs.Put(payload);
        return Locked(() =>
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
        });
    }

    /// <summary>Queued tasks in arrival order (including one whose training was interrupted).</summary>
    public IReadOnlyList<TaskRecord> QueuedTasks()
    {
        return Locked(() =>
        {
            return _tasks.Find(t => t.State == TaskState.Queued).OrderBy(t => t.Sequence).ToList();
        });
    }

    public int QueueLength
    {
        get
        {
            return Locked(() =>
            {
                return _tasks.Count(t => t.State == TaskState.Queued);
            });
        }
    }

    /// <summary>The deployed model version, or null before the first task is learned.</summary>
    public ModelVersionRecord? Deployed()
    {
        return Locked(() =>
        {
            long version = _settings.FindById(DeployedKey)?.Value ?? 0;
            return version == 0 ? null : _versions.FindById((int)version);
        });
    }

    /// <summary>The number the next committed version will get.</summary>
    public int NextVersion()
    {
        return Locked(() =>
        {
            return _versions.FindAll().Select(v => v.Version).DefaultIfEmpty(0).Max() + 1;
        });
    }

    public IReadOnlyList<ModelVersionRecord> Versions()
    {
        return Locked(() =>
        {
            return _versions.FindAll().OrderBy(v => v.Version).ToList();
        });
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
        ModelVersionRecord version = null!;
        string? payload = null;
        Locked(() =>
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

    public ModelVersionRecord? FindVersion(int version)
    {
        return Locked(() =>
        {
            return _versions.FindById(version);
        });
    }

    public IReadOnlyList<TaskRecord> AllTasks()
    {
        return Locked(() =>
        {
            return _tasks.FindAll().OrderBy(t => t.Sequence).ToList();
        });
    }

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

    public void Dispose()
    {
        lock (_gate)
        {
            try
            {
                _db.Dispose();
            }
            catch (Exception e) when (_broken && IsStorageFailure(e))
            {
                // Already failed; the next start replays the log.
            }
            finally
            {
                _lock.Dispose();
            }
        }
    }

    private HashSet<string> ReferencedBlobs()
    {
        return Locked(() =>
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
        });
    }
}
