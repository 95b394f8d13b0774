using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Became.Agent.Storage;
using Became.Agent.Tests.Agent;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Faults;

/// <summary>A full disk while a new model is committed (injected at the blob writes): the job fails cleanly, the
/// deployed model keeps serving, and the job is retried until it succeeds once space is back.</summary>
[Trait("Speed", "Slow")]
public sealed class DiskFullTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    /// <summary>An agent with HTTP on and quick retries, one learned task (version 1), then a second task whose commit hits a full disk.</summary>
    private static async Task<(AgentHarness Agent, HttpClient Http, InjectedDiskFull Disk)> SecondTaskOnAFullDiskAsync()
    {
        var disk = new InjectedDiskFull();
        int port = TestBrokers.FreePort();
        var agent = await AgentHarness.StartAsync(
            services: s => s.AddSingleton<IStorageFaults>(disk),
            extraArgs: [$"--HttpUrls=http://127.0.0.1:{port}", "--Jobs:RetryInitialSeconds=1", "--Jobs:RetryMaxSeconds=2"]);
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 300));
        await agent.WaitForAsync("model.deployed", "t0", Patience);

        // The task's payload still fits (it is stored and acknowledged); the commit's model, state and test set do not.
        disk.FillAfter(writesThatFit: 1);
        await agent.PublishTaskAsync("t1", AgentHarness.SplitTask(1, 300));
        return (agent, http, disk);
    }

    [Fact]
    public async Task Disk_full_during_commit_fails_the_job_cleanly_and_the_deployed_model_keeps_serving()
    {
        var (agent, http, disk) = await SecondTaskOnAFullDiskAsync();
        await using var _ = agent;
        using var __ = http;

        var failed = await agent.WaitForAsync("job.failed", "t1", Patience);

        Assert.Contains("No space left on device", failed.GetProperty("reason").GetString());
        Assert.True(failed.GetProperty("retry").GetBoolean());
        Assert.True(disk.Refused >= 1);
        Assert.Equal(1, agent.Store.Deployed()?.Version);
        Assert.Single(agent.Store.Versions());
        var task = agent.Store.FindTask("t1")!;
        Assert.Equal(TaskState.Queued, task.State);
        Assert.NotNull(task.PayloadBlob);
        Assert.True(agent.Store.Blobs.Exists(task.PayloadBlob!));
        Assert.Empty(Directory.EnumerateFiles(agent.Store.Blobs.Directory, ".*"));

        // Still serving version 1, over HTTP and in the retained status.
        var health = await http.GetFromJsonAsync<JsonElement>("/healthz");
        Assert.Equal(1, health.GetProperty("deployedVersion").GetInt32());
        using var model = await http.GetAsync(new Uri("/models/current", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, model.StatusCode);
        Assert.Equal($"\"{agent.Store.Deployed()!.ModelBlob}\"", model.Headers.ETag?.Tag);
        // The status follows the event (it goes out when the job ends): read it until it has caught up.
        var status = await agent.ReadStatusAsync();
        var deadline = DateTime.UtcNow + Patience;
        while (status.GetProperty("lastError").GetString() is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            status = await agent.ReadStatusAsync();
        }

        Assert.Equal(1, status.GetProperty("deployedVersion").GetInt32());
        Assert.Contains("No space left on device", status.GetProperty("lastError").GetString());
        output.WriteLine($"job.failed: {failed.GetRawText()}");
    }

    [Fact]
    public async Task Job_that_failed_on_a_full_disk_is_learned_once_space_is_back()
    {
        var (agent, http, disk) = await SecondTaskOnAFullDiskAsync();
        await using var _ = agent;
        using var __ = http;

        // Retried with backoff while the disk stays full.
        await agent.WaitForEventAsync(e => AgentHarness.Type(e) == "job.failed" && e.GetProperty("attempt").GetInt32() == 2, Patience, "a second failed attempt");
        Assert.Equal(TaskState.Queued, agent.Store.FindTask("t1")!.State);

        disk.Free();
        var clock = Stopwatch.StartNew();
        var deployed = await agent.WaitForAsync("model.deployed", "t1", Patience);

        Assert.Equal(2, deployed.GetProperty("version").GetInt32());
        var task = agent.Store.FindTask("t1")!;
        Assert.Equal(TaskState.Learned, task.State);
        Assert.True(task.Attempts >= 2, $"attempts {task.Attempts}");
        Assert.Equal(["t0", "t1"], agent.Store.Versions().Select(v => v.TaskId));
        Assert.Equal(2, agent.Deployed.Current.Version);
        output.WriteLine($"learned {clock.Elapsed.TotalSeconds:F1} s after space came back, after {task.Attempts} failed attempts ({disk.Refused} refused writes)");
    }

    [Fact]
    public async Task Task_arriving_on_a_full_disk_is_deferred_to_the_broker_and_learned_after_space_is_back()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        var disk = new InjectedDiskFull();
        disk.FillAfter(writesThatFit: 0);
        await using var agent = await AgentHarness.StartAsync(externalPort: broker.Port, services: s => s.AddSingleton<IStorageFaults>(disk));

        await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 200));
        var deferred = await agent.WaitForAsync("task.deferred", "t0", Patience);

        Assert.Equal("storage_error", deferred.GetProperty("reason").GetString());
        Assert.Contains("No space left on device", deferred.GetProperty("message").GetString());
        Assert.Null(agent.Store.FindTask("t0"));
        Assert.Empty(Directory.EnumerateFiles(agent.Store.Blobs.Directory));

        // Unacknowledged, the task waits in the agent's persistent session on the broker until the next one.
        disk.Free();
        await agent.RestartAsync(broker.Port);
        var deadline = DateTime.UtcNow + Patience;
        // Learned is committed before the in-memory swap: wait for both.
        while (agent.Store.FindTask("t0")?.State != TaskState.Learned || agent.Deployed.Current.Version != 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "t0 was not learned and deployed after the restart");
            await Task.Delay(50);
        }
    }
}
