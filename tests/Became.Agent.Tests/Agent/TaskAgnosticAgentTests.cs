using System.Buffers;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Became.Core.Data;

namespace Became.Agent.Tests.Agent;

/// <summary>Infer without a task id on a real agent: after three split tasks, held-out images get their task and
/// class over MQTT and HTTP, and the class statistics behind it survive a restart, a rollback and an adoption.</summary>
[Trait("Speed", "Slow")]
public sealed class TaskAgnosticAgentTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(300);
    private static readonly string[] TaskIds = ["tops", "pullover-dress", "coat-sandal"];
    private const string Token = "test-token-0123456789";

    [Fact]
    public async Task Held_out_images_get_their_task_and_class_without_a_task_id_over_MQTT_and_HTTP()
    {
        int port = TestBrokers.FreePort();
        await using var agent = await AgentHarness.StartAsync(extraArgs: [$"--HttpUrls=http://127.0.0.1:{port}", $"--HttpToken={Token}", "--Training:Method=gpm"]);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        var deployed = await LearnThreeTasksAsync(agent);
        var (request, tasks, labels) = HeldOut(perTask: 20);

        using var overMqtt = Json((await MqttRequest.SendAsync(agent, "infer", request)).Payload.ToArray());
        using var reply = await http.PostAsync("/infer", new ByteArrayContent(request));
        using var overHttp = Json(await reply.Content.ReadAsByteArrayAsync());

        Assert.Equal(overMqtt.RootElement.GetRawText(), overHttp.RootElement.GetRawText());
        var root = overMqtt.RootElement;
        Assert.False(root.TryGetProperty("taskId", out _));
        Assert.Equal(3, root.GetProperty("version").GetInt32());
        var answeredTasks = root.GetProperty("tasks").EnumerateArray().Select(t => t.GetString()!).ToArray();
        var predictions = root.GetProperty("predictions").EnumerateArray().Select(p => p.GetInt64()).ToArray();
        var confidences = root.GetProperty("confidences").EnumerateArray().Select(c => c.GetDouble()).ToArray();
        Assert.All(confidences, c => Assert.InRange(c, 0, 1));
        Assert.All(root.GetProperty("probabilities").EnumerateArray(), p => Assert.Equal(2, p.GetArrayLength()));
        int right = Enumerable.Range(0, labels.Length).Count(i => answeredTasks[i] == tasks[i] && predictions[i] == labels[i]);
        int rightTask = Enumerable.Range(0, labels.Length).Count(i => answeredTasks[i] == tasks[i]);
        // GPM keeps the body's features of old tasks where they were, so statistics taken when a task was learned
        // hold (BECAME's merge moves them; on tasks this small by far the most: see the README). Measured: 53 of 60 in the right task
        // (chance 20), 50 of 60 right, 74.44 % on the held-out sets (three tasks of 300 images, 30 held out each).
        output.WriteLine($"right task {rightTask}/60, right {right}/60, held-out figure {deployed.GetProperty("taskAgnosticAccuracy").GetDouble()}");
        Assert.True(rightTask >= 45, $"{rightTask} of 60 in the right task: {string.Join(", ", answeredTasks)}");
        Assert.True(right >= 42, $"{right} of 60 right");

        // The version says how well it answers so, on its own held-out sets.
        double figure = deployed.GetProperty("taskAgnosticAccuracy").GetDouble();
        Assert.InRange(figure, 60, 100);
        Assert.Equal(figure, agent.Store.Deployed()!.TaskAgnosticAccuracy);
    }

    [Fact]
    public async Task The_answers_without_a_task_id_survive_a_restart_a_rollback_and_an_adoption()
    {
        // With the input expansion, whose weights come back from the seed in the state (the peer's own setting is
        // the default, body: an adopted state keeps its kind).
        await using var agent = await AgentHarness.StartAsync(extraArgs: ["--Training:TaskFeatures=input:500"]);
        await LearnThreeTasksAsync(agent);
        var (request, _, _) = HeldOut(perTask: 10);
        string before = Answers(await MqttRequest.SendAsync(agent, "infer", request));

        await agent.RestartAsync();
        string afterRestart = Answers(await MqttRequest.SendAsync(agent, "infer", request));

        await using var peer = await AgentHarness.StartAsync(externalPort: agent.BrokerPort);
        var adoption = Json((await MqttRequest.SendAsync(peer, "cmd/adopt", Encoding.UTF8.GetBytes($"{{\"from\": \"{agent.DeviceId}\", \"version\": 3}}"), Patience)).Payload.ToArray());
        Assert.True(adoption.RootElement.GetProperty("deployed").GetBoolean(), adoption.RootElement.GetRawText());
        string adopted = Answers(await MqttRequest.SendAsync(peer, "infer", request));

        await MqttRequest.SendAsync(agent, "cmd/rollback", Encoding.UTF8.GetBytes("{\"version\": 2}"));
        await agent.WaitForEventAsync(e => AgentHarness.Type(e) == "model.deployed" && e.TryGetProperty("rollback", out var r) && r.GetBoolean(), Patience, "the rollback's model.deployed");
        using var rolledBack = Json((await MqttRequest.SendAsync(agent, "infer", request)).Payload.ToArray());

        Assert.Equal(before, afterRestart);
        Assert.Equal(before, adopted);
        Assert.Equal(2, rolledBack.RootElement.GetProperty("version").GetInt32());
        Assert.All(rolledBack.RootElement.GetProperty("tasks").EnumerateArray(), t => Assert.Contains(t.GetString(), TaskIds[..2]));
    }

    private static async Task<JsonElement> LearnThreeTasksAsync(AgentHarness agent)
    {
        for (int t = 0; t < TaskIds.Length; t++)
        {
            await agent.PublishTaskAsync(TaskIds[t], AgentHarness.SplitTask(t, 300));
        }

        return await agent.WaitForAsync("model.deployed", TaskIds[^1], Patience);
    }

    /// <summary>A JSON infer without a task id: <paramref name="perTask"/> test images (never trained on) of each of
    /// the three tasks, with the task and class each belongs to.</summary>
    private static (byte[] Request, string[] Tasks, long[] Labels) HeldOut(int perTask)
    {
        var dataset = ImageClassificationDataset.Load();
        var rows = Enumerable.Range(0, TaskIds.Length)
            .SelectMany(t => Enumerable.Range(0, dataset.Test.Count).Where(i => dataset.Test.Label(i) / 2 == t).Take(perTask))
            .ToList();
        var inputs = rows.Select(r => dataset.Test.Image(r).ToArray().Select(b => Math.Round(b / 255.0, 6)).ToArray()).ToArray();
        return (JsonSerializer.SerializeToUtf8Bytes(new { inputs }),
            rows.Select(r => TaskIds[dataset.Test.Label(r) / 2]).ToArray(),
            rows.Select(r => (long)(dataset.Test.Label(r) % 2)).ToArray());
    }

    private static string Answers(MQTTnet.MqttApplicationMessage reply)
    {
        using var json = Json(reply.Payload.ToArray());
        var root = json.RootElement;
        Assert.True(root.TryGetProperty("tasks", out var tasks), root.GetRawText());
        return $"{tasks.GetRawText()} {root.GetProperty("predictions").GetRawText()} {root.GetProperty("confidences").GetRawText()}";
    }

    private static JsonDocument Json(byte[] payload) => JsonDocument.Parse(payload);
}
