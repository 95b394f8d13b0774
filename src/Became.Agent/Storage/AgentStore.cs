using LiteDB;

namespace Became.Agent.Storage;

/// <summary>
/// The agent's local state: tasks, model versions and the deployed pointer in one LiteDB file (Direct mode,
/// owned by this process), tensors in content-addressed blob files. A task's commit writes the blobs first,
/// then one LiteDB transaction, then a checkpoint; a crash in between leaves only unreferenced blobs,
/// which start-up removes.
/// </summary>
public sealed partial class AgentStore : IDisposable
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

    private readonly IStorageFaults _faults;

    /// <summary>Opens the store of <paramref name="dataDirectory"/> (created when new), without injected faults.</summary>
    public AgentStore(string dataDirectory)
        : this(dataDirectory, NoStorageFaults.Instance)
    {
    }

    /// <summary>Opens the store with <paramref name="faults"/> (the test harness's seam) around its writes and commits.</summary>
    public AgentStore(string dataDirectory, IStorageFaults faults)
    {
        _faults = faults;
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
