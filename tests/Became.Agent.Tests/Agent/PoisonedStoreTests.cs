using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using LiteDB;

namespace Became.Agent.Tests.Agent;

/// <summary>An agent upgraded over a data folder that an earlier version poisoned with a NaN accuracy (the accuracy of an
/// empty held-out set) and a committed task marked failed.</summary>
[Trait("Speed", "Slow")]
public sealed class PoisonedStoreTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);
    private const string Token = "test-token-0123456789";

    [Fact]
    public async Task Agent_started_on_a_store_holding_a_NaN_accuracy_answers_models_and_tasks_again()
    {
        int port = TestBrokers.FreePort();
        await using var agent = await AgentHarness.StartAsync(extraArgs: [$"--HttpUrls=http://127.0.0.1:{port}", $"--HttpToken={Token}"]);
        await agent.PublishTaskAsync("big", AgentHarness.SplitTask(0, 300));
        await agent.PublishTaskAsync("tiny", AgentHarness.SplitTask(1, 300));
        await agent.WaitForAsync("model.deployed", "tiny", Patience);
        await agent.StopAgentAsync();

        // What the earlier agent left: accuracy as a document with NaN for the task whose test set was empty, and that
        // task marked failed after its commit because the event carrying the NaN could not be written.
        using (var db = new LiteDatabase(new ConnectionString { Filename = Path.Combine(agent.DataDirectory, "became.db"), Connection = ConnectionType.Direct }))
        {
            var versions = db.GetCollection("versions");
            var v2 = versions.FindById(2);
            v2["Accuracy"] = new BsonDocument { ["big"] = 97.5, ["tiny"] = double.NaN };
            versions.Update(v2);
            var tasks = db.GetCollection("tasks");
            var tiny = tasks.FindById("tiny");
            tiny["State"] = "Failed";
            tiny["Error"] = ".NET number values such as positive and negative infinity cannot be written as valid JSON.";
            tasks.Update(tiny);
        }

        await agent.StartAgentAsync(null);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var models = await http.GetAsync(new Uri("/models", UriKind.Relative));
        using var tasksReply = await http.GetAsync(new Uri("/tasks", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        Assert.Equal(HttpStatusCode.OK, tasksReply.StatusCode);
        var v2Reply = JsonDocument.Parse(await models.Content.ReadAsStringAsync()).RootElement.EnumerateArray().Single(v => v.GetProperty("version").GetInt32() == 2);
        Assert.Equal(97.5, v2Reply.GetProperty("accuracy").GetProperty("big").GetDouble());
        Assert.False(v2Reply.GetProperty("accuracy").TryGetProperty("tiny", out _));
        var tinyReply = JsonDocument.Parse(await tasksReply.Content.ReadAsStringAsync()).RootElement.EnumerateArray().Single(t => t.GetProperty("id").GetString() == "tiny");
        Assert.Equal("learned", tinyReply.GetProperty("state").GetString());

        // No figure is shown as none, not as 0%.
        Assert.Equal(JsonValueKind.Null, tinyReply.GetProperty("accuracy").ValueKind);
    }
}
