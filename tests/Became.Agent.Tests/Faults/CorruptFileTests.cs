using System.Net.Http.Json;
using System.Text.Json;
using Became.Agent.Storage;
using Became.Agent.Tests.Agent;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Faults;

/// <summary>Files damaged on disk while the agent was down: checked against their sha256 at start-up, reported
/// clearly, and the last good version is served (models) or the job fails without retry (a task's payload).</summary>
[Trait("Speed", "Slow")]
public sealed class CorruptFileTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    [Theory]
    [InlineData("model", "flipped")]
    [InlineData("model", "truncated")]
    [InlineData("state", "truncated")]
    [InlineData("model", "deleted")]
    public async Task Damaged_model_file_is_detected_at_start_up_and_the_last_good_version_is_served(string file, string damage)
    {
        await using var agent = await ChildAgent.CreateAsync();
        await agent.StartAsync();
        await agent.PublishAsync(("t0", AgentHarness.SplitTask(0, 200)), ("t1", AgentHarness.SplitTask(1, 200)));
        await agent.WaitForStatusAsync(s => s.GetProperty("deployedVersion").GetInt32() == 2 && s.GetProperty("state").GetString() == "idle", Patience, "version 2 deployed");
        await agent.StopAsync();
        using (var store = agent.OpenStore())
        {
            var v2 = store.FindVersion(2)!;
            FileDamage.Apply(damage, Path.Combine(store.Blobs.Directory, file == "model" ? v2.ModelBlob : v2.StateBlob));
        }

        var restarted = DateTime.UtcNow;
        int httpPort = TestBrokers.FreePort();
        await agent.StartAsync(null, $"--HttpUrls=http://127.0.0.1:{httpPort}");

        var corrupt = await agent.WaitForAsync("model.corrupt", null, Patience);
        Assert.Equal(2, corrupt.GetProperty("version").GetInt32());
        Assert.Equal(1, corrupt.GetProperty("fallbackVersion").GetInt32());
        Assert.Equal(["t1"], corrupt.GetProperty("lostTasks").EnumerateArray().Select(t => t.GetString()));
        string reason = corrupt.GetProperty("reasons")[0].GetString()!;
        Assert.Contains(damage == "deleted" ? "Could not find file" : "is corrupt", reason);
        var status = await agent.WaitForStatusAsync(s => s.GetProperty("deployedVersion").GetInt32() == 1, Patience, "version 1 served", after: restarted);
        Assert.Contains("corrupt", status.GetProperty("lastError").GetString());
        Assert.Contains("Model version 2 has a missing file or failed its checksum at start-up", agent.Output);
        using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") })
        {
            var versions = await GetWhenListeningAsync(http, "/models");
            var v2 = versions.EnumerateArray().Single(v => v.GetProperty("version").GetInt32() == 2);
            Assert.False(v2.GetProperty("deployed").GetBoolean());
            Assert.Equal(corrupt.GetProperty("reasons")[0].GetString(), $"version 2: {v2.GetProperty("corrupt").GetString()}");
        }

        // The agent keeps learning on top of the good version.
        await agent.PublishAsync(("t2", AgentHarness.SplitTask(2, 200)));
        var deployed = await agent.WaitForAsync("model.deployed", "t2", Patience);
        Assert.Equal(3, deployed.GetProperty("version").GetInt32());
        await agent.StopAsync();
        using (var store = agent.OpenStore())
        {
            Assert.NotNull(store.FindVersion(2)!.Corrupt);
            var v3 = store.Deployed()!;
            Assert.Equal(1, v3.ParentVersion);
            Assert.Equal(["t0", "t2"], v3.TaskIds);
        }

        output.WriteLine($"model.corrupt: {corrupt.GetRawText()}");
    }

    [Fact]
    public async Task Rollback_to_a_damaged_version_is_refused_and_the_deployed_model_stays()
    {
        await using var agent = await ChildAgent.CreateAsync();
        int httpPort = TestBrokers.FreePort();
        await agent.StartAsync(null, $"--HttpUrls=http://127.0.0.1:{httpPort}");
        await agent.PublishAsync(("t0", AgentHarness.SplitTask(0, 200)), ("t1", AgentHarness.SplitTask(1, 200)));
        await agent.WaitForStatusAsync(s => s.GetProperty("deployedVersion").GetInt32() == 2 && s.GetProperty("state").GetString() == "idle", Patience, "version 2 deployed");
        await agent.StopAsync();
        using (var store = agent.OpenStore())
        {
            FileDamage.Flip(Path.Combine(store.Blobs.Directory, store.FindVersion(1)!.ModelBlob));
        }

        await agent.StartAsync(null, $"--HttpUrls=http://127.0.0.1:{httpPort}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        await GetWhenListeningAsync(http, "/healthz");
        using var response = await http.PostAsync(new Uri("/models/1/deploy", UriKind.Relative), null);

        Assert.Equal(System.Net.HttpStatusCode.Conflict, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("corrupt_version", body.GetProperty("error").GetString());
        var corrupt = await agent.WaitForAsync("model.corrupt", "t0", Patience);
        Assert.Equal(1, corrupt.GetProperty("version").GetInt32());
        var health = await http.GetFromJsonAsync<JsonElement>("/healthz");
        Assert.Equal(2, health.GetProperty("deployedVersion").GetInt32());
        await agent.StopAsync();
        using (var store = agent.OpenStore())
        {
            Assert.Equal(2, store.Deployed()!.Version);
            Assert.NotNull(store.FindVersion(1)!.Corrupt);
        }
    }

    [Fact]
    public async Task Damaged_test_set_of_an_earlier_task_costs_its_accuracy_figure_not_the_next_job()
    {
        await using var agent = await ChildAgent.CreateAsync();
        await agent.StartAsync();
        await agent.PublishAsync(("t0", AgentHarness.SplitTask(0, 200)));
        await agent.WaitForAsync("model.deployed", "t0", Patience);
        await agent.StopAsync();
        using (var store = agent.OpenStore())
        {
            FileDamage.Truncate(Path.Combine(store.Blobs.Directory, store.FindTask("t0")!.TestBlob!));
        }

        await agent.StartAsync();
        await agent.PublishAsync(("t1", AgentHarness.SplitTask(1, 200)));
        var deployed = await agent.WaitForAsync("model.deployed", "t1", Patience);

        Assert.Equal(2, deployed.GetProperty("version").GetInt32());
        var accuracy = deployed.GetProperty("accuracy");
        Assert.False(accuracy.TryGetProperty("t0", out _), accuracy.GetRawText());
        Assert.True(accuracy.GetProperty("t1").GetDouble() > 60, accuracy.GetRawText());
        Assert.Contains("Held-out test set of t0 is unusable", agent.Output);
    }

    // Kestrel starts after the worker, so the first status can come before it listens.
    private static async Task<JsonElement> GetWhenListeningAsync(HttpClient http, string path)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                return await http.GetFromJsonAsync<JsonElement>(path);
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task Damaged_task_payload_fails_its_job_without_retry()
    {
        await using var agent = await ChildAgent.CreateAsync();
        using (var store = agent.OpenStore())
        {
            var task = store.AddTask("damaged", null, 2, 200, 0.1, AgentHarness.SplitTask(0, 200));
            FileDamage.Flip(Path.Combine(store.Blobs.Directory, task.PayloadBlob!));
        }

        await agent.StartAsync(args: "--Jobs:RetryInitialSeconds=1");
        var failed = await agent.WaitForAsync("job.failed", "damaged", Patience);

        Assert.False(failed.GetProperty("retry").GetBoolean());
        Assert.Contains("is corrupt", failed.GetProperty("reason").GetString());
        await agent.StopAsync();
        using (var store = agent.OpenStore())
        {
            var record = store.FindTask("damaged")!;
            Assert.Equal(TaskState.Failed, record.State);
            Assert.Equal(0, record.Attempts);
            Assert.Empty(store.QueuedTasks());
        }
    }
}
