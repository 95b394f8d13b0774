using Became.Agent.Storage;
using LiteDB;

namespace Became.Agent.Tests.Storage;

/// <summary>The store on real LiteDB files in a temp folder: ordinal task ids, accuracy figures, repairs on opening.</summary>
public sealed class AgentStoreTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("became-store-").FullName;

    private string DatabaseFile => Path.Combine(_directory, "became.db");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static TaskRecord Add(AgentStore store, string id, byte content = 1) =>
        store.AddTask(id, null, 2, 100, 0.1, [content, 2, 3]);

    private static ModelVersionRecord Commit(AgentStore store, TaskRecord task, Dictionary<string, double> accuracy) =>
        store.Commit(new CommittedTask(task, store.NextVersion(), 0, [1, (byte)task.Sequence], [2, (byte)task.Sequence], [3, (byte)task.Sequence], [2], null, [1], accuracy, 1));

    [Fact]
    public void Task_ids_that_differ_only_in_case_are_different_tasks()
    {
        using var store = new AgentStore(_directory);
        Add(store, "CaseId-X", 1);

        Assert.Null(store.FindTask("caseid-X"));
        Add(store, "caseid-X", 2);
        Assert.Equal(1, store.FindTask("CaseId-X")!.Sequence);
        Assert.Equal(2, store.FindTask("caseid-X")!.Sequence);
    }

    [Fact]
    public void Database_made_with_the_old_case_insensitive_collation_is_rebuilt_ordinal_on_opening()
    {
        // What earlier versions created: LiteDB's default collation, the culture's IgnoreCase (here as on an en-US device).
        using (var old = new LiteDatabase(new ConnectionString { Filename = DatabaseFile, Connection = ConnectionType.Direct, Collation = new Collation("en-US/IgnoreCase") }))
        {
            old.GetCollection<TaskRecord>("tasks").Insert(new TaskRecord { Id = "CaseId-X", Sequence = 1, State = TaskState.Learned, PayloadSha256 = "a" });
        }

        using (var store = new AgentStore(_directory))
        {
            Assert.NotNull(store.FindTask("CaseId-X"));
            Assert.Null(store.FindTask("caseid-x"));
            Add(store, "caseid-x");
        }

        using var reopened = new LiteDatabase(new ConnectionString { Filename = DatabaseFile, Connection = ConnectionType.Direct, ReadOnly = true });
        Assert.Equal(Collation.Binary.ToString(), reopened.Pragma("COLLATION").AsString);
        Assert.Equal(["CaseId-X", "caseid-x"], reopened.GetCollection<TaskRecord>("tasks").FindAll().Select(t => t.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Accuracy_figures_of_ids_that_differ_only_in_case_are_kept_apart()
    {
        using (var store = new AgentStore(_directory))
        {
            var task = Add(store, "a");
            Commit(store, task, new Dictionary<string, double> { ["A"] = 11, ["a"] = 22 });
        }

        using var reopened = new AgentStore(_directory);
        Assert.Equal(new Dictionary<string, double> { ["A"] = 11, ["a"] = 22 }, reopened.Versions().Single().Accuracy);
    }

    [Fact]
    public void NaN_accuracy_already_in_the_store_is_never_read_back()
    {
        // An agent before the fix stored the NaN accuracy of an empty held-out set as a document keyed by task id.
        using (var old = new LiteDatabase(new ConnectionString { Filename = DatabaseFile, Connection = ConnectionType.Direct }))
        {
            old.GetCollection<ModelVersionRecord>("versions").Insert(new ModelVersionRecord
            {
                Version = 1,
                TaskId = "tiny",
                TaskIds = ["big", "tiny"],
                Accuracy = new Dictionary<string, double> { ["big"] = 97.5, ["tiny"] = double.NaN, ["inf"] = double.PositiveInfinity },
            });
        }

        using var store = new AgentStore(_directory);
        var version = store.Versions().Single();

        Assert.Equal(new Dictionary<string, double> { ["big"] = 97.5 }, version.Accuracy);
        Assert.Equal(new Dictionary<string, double> { ["big"] = 97.5 }, store.FindVersion(1)!.Accuracy);
        System.Text.Json.JsonSerializer.Serialize(store.Versions());
    }

    [Fact]
    public void Committed_task_is_never_marked_failed()
    {
        using var store = new AgentStore(_directory);
        var task = Add(store, "t");
        Commit(store, task, new Dictionary<string, double> { ["t"] = 90 });

        Assert.False(store.MarkFailed("t", "an event could not be written"));
        Assert.Equal(TaskState.Learned, store.FindTask("t")!.State);
        Assert.Null(store.FindTask("t")!.Error);
    }

    [Fact]
    public void Queued_task_is_marked_failed()
    {
        using var store = new AgentStore(_directory);
        Add(store, "t");

        Assert.True(store.MarkFailed("t", "bad"));
        Assert.Equal(TaskState.Failed, store.FindTask("t")!.State);
    }

    [Fact]
    public void Task_marked_failed_after_its_commit_is_learned_again_on_opening()
    {
        using (var store = new AgentStore(_directory))
        {
            var task = Add(store, "t");
            Commit(store, task, new Dictionary<string, double> { ["t"] = 90 });
        }

        // What an agent before the fix left when an event failed after the commit.
        using (var old = new LiteDatabase(new ConnectionString { Filename = DatabaseFile, Connection = ConnectionType.Direct }))
        {
            var tasks = old.GetCollection("tasks");
            var record = tasks.FindById("t");
            record["State"] = nameof(TaskState.Failed);
            record["Error"] = ".NET number values such as positive and negative infinity cannot be written as valid JSON.";
            tasks.Update(record);
        }

        using var reopened = new AgentStore(_directory);
        Assert.Equal(TaskState.Learned, reopened.FindTask("t")!.State);
        Assert.Null(reopened.FindTask("t")!.Error);
    }
}
