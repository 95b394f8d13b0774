using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Became.Core.Data;
using Became.Core.Serialization;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Agent.Tests.Agent;

/// <summary>Pull, inference, rollback, the deployment gate and the HTTP token, against a real agent.</summary>
[Trait("Speed", "Slow")]
public sealed class ServingTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);
    private const string Token = "test-token-0123456789";

    private static async Task<(AgentHarness Agent, HttpClient Http)> StartWithHttpAsync(params string[] extra)
    {
        int port = TestBrokers.FreePort();
        var agent = await AgentHarness.StartAsync(extraArgs: [$"--HttpUrls=http://127.0.0.1:{port}", $"--HttpToken={Token}", .. extra]);
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return (agent, http);
    }

    /// <summary>Sends an MQTT 5 request and waits for the reply on a private response topic.</summary>
    private static Task<MqttApplicationMessage> RequestAsync(AgentHarness agent, string suffix, byte[] payload) =>
        MqttRequest.SendAsync(agent, suffix, payload);

    private static string UserProperty(MqttApplicationMessage message, string name) =>
        message.UserProperties!.Single(p => p.Name == name).ReadValueAsString();

    private static byte[] InferRequest(string taskId, int task, int count)
    {
        var dataset = ImageClassificationDataset.Load();
        var rows = Enumerable.Range(0, dataset.Test.Count).Where(i => dataset.Test.Label(i) / 2 == task).Take(count).ToList();
        var inputs = rows.Select(r => dataset.Test.Image(r).ToArray().Select(b => Math.Round(b / 255.0, 6)).ToArray()).ToArray();
        return JsonSerializer.SerializeToUtf8Bytes(new { taskId, inputs });
    }

    private static async Task<AgentHarness> LearnTwoTasksAsync(AgentHarness agent)
    {
        await agent.PublishTaskAsync("s0", AgentHarness.SplitTask(0, 300));
        await agent.PublishTaskAsync("s1", AgentHarness.SplitTask(1, 300));
        await agent.WaitForAsync("model.deployed", "s1", Patience);
        return agent;
    }

    [Fact]
    public async Task Pull_over_MQTT_and_HTTP_returns_the_same_file_whose_sha256_matches()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        await LearnTwoTasksAsync(agent);

        var mqtt = await RequestAsync(agent, "models/pull", []);
        byte[] overHttp = await http.GetByteArrayAsync("/models/current");
        byte[] overMqtt = mqtt.Payload.ToArray();

        Assert.Equal(overHttp, overMqtt);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(overMqtt)), UserProperty(mqtt, "sha256"));
        Assert.Equal("2", UserProperty(mqtt, "version"));
        var file = SafeTensorsFile.Parse(overMqtt);
        Assert.Equal("2", file.Metadata["version"]);
        Assert.Equal("[\"s0\",\"s1\"]", file.Metadata["tasks"]);
    }

    [Fact]
    public async Task Unchanged_model_answers_304_to_its_ETag()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        await LearnTwoTasksAsync(agent);

        using var first = await http.GetAsync("/models/current");
        var etag = first.Headers.ETag!;
        using var request = new HttpRequestMessage(HttpMethod.Get, "/models/current");
        request.Headers.IfNoneMatch.Add(etag);
        using var second = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
        Assert.Equal($"\"{Convert.ToHexStringLower(SHA256.HashData(await first.Content.ReadAsByteArrayAsync()))}\"", etag.Tag);
    }

    [Fact]
    public async Task Model_over_HTTP_in_an_unknown_format_is_400_bad_request_and_safetensors_is_the_file()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        await LearnTwoTasksAsync(agent);

        using var unknown = await http.GetAsync("/models/current?format=tflite");
        byte[] named = await http.GetByteArrayAsync("/models/2?format=safetensors");

        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        using var body = System.Text.Json.JsonDocument.Parse(await unknown.Content.ReadAsStringAsync());
        Assert.Equal("bad_request", body.RootElement.GetProperty("error").GetString());
        Assert.Equal(await http.GetByteArrayAsync("/models/current"), named);
    }

    [Fact]
    public async Task Became_pull_names_the_format_over_HTTP_and_MQTT_and_hears_the_device_refuse_an_unknown_one()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        await LearnTwoTasksAsync(agent);
        string file = Path.Combine(Path.GetTempPath(), $"became-pull-{Guid.NewGuid():N}.safetensors");
        string[] overHttp = ["--http", http.BaseAddress!.ToString().TrimEnd('/'), "--token", Token];
        string[] overMqtt = ["--broker", $"127.0.0.1:{agent.BrokerPort}", "--device", agent.DeviceId];
        try
        {
            foreach (string[] target in new[] { overHttp, overMqtt })
            {
                var (okOut, okErr) = (new StringWriter(), new StringWriter());
                int ok = await Became.Cli.BecameCli.RunAsync(["pull", .. target, "--format", "safetensors", "-o", file], okOut, okErr, CancellationToken.None);
                Assert.True(ok == 0, okErr.ToString());
                Assert.Equal(await http.GetByteArrayAsync("/models/current"), await File.ReadAllBytesAsync(file));

                var (output, error) = (new StringWriter(), new StringWriter());
                int refused = await Became.Cli.BecameCli.RunAsync(["pull", .. target, "--format", "tflite", "-o", file], output, error, CancellationToken.None);
                Assert.Equal(1, refused);
                Assert.Contains("bad_request", error.ToString(), StringComparison.Ordinal);
                Assert.Contains("tflite", error.ToString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Inference_over_MQTT_and_HTTP_agree()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        await LearnTwoTasksAsync(agent);
        byte[] request = InferRequest("s0", 0, 20);

        var mqtt = JsonDocument.Parse((await RequestAsync(agent, "infer", request)).Payload.ToArray()).RootElement;
        using var response = await http.PostAsync("/infer", new ByteArrayContent(request));
        var overHttp = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, mqtt.GetProperty("version").GetInt32());
        Assert.Equal(mqtt.GetProperty("predictions").GetRawText(), overHttp.GetProperty("predictions").GetRawText());
        Assert.Equal(mqtt.GetProperty("probabilities").GetRawText(), overHttp.GetProperty("probabilities").GetRawText());
        Assert.Equal(20, mqtt.GetProperty("predictions").GetArrayLength());
    }

    [Fact]
    public async Task Requests_for_unknown_tasks_or_versions_get_clear_error_replies()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        await LearnTwoTasksAsync(agent);

        var unknownTask = await RequestAsync(agent, "infer", InferRequest("nope", 0, 2));
        var unknownVersion = await RequestAsync(agent, "models/pull", Encoding.UTF8.GetBytes("{\"version\": 99}"));
        using var httpUnknown = await http.GetAsync("/models/99");

        Assert.Equal("unknown_task", UserProperty(unknownTask, "error"));
        Assert.Equal("unknown_version", UserProperty(unknownVersion, "error"));
        Assert.Equal(HttpStatusCode.NotFound, httpUnknown.StatusCode);
    }

    [Fact]
    public async Task Infer_with_a_wrong_shape_gets_a_bad_shape_reply()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        await LearnTwoTasksAsync(agent);

        var reply = await RequestAsync(agent, "infer", Encoding.UTF8.GetBytes("{\"taskId\": \"s0\", \"inputs\": [[0.1, 0.2, 0.3]]}"));
        using var overHttp = await http.PostAsync("/infer", new StringContent("{\"taskId\": \"s0\", \"inputs\": [[0.1]]}"));

        Assert.Equal("bad_shape", UserProperty(reply, "error"));
        Assert.Equal(HttpStatusCode.BadRequest, overHttp.StatusCode);
    }

    [Fact]
    public async Task Request_without_a_response_topic_is_answered_with_an_event()
    {
        await using var agent = await AgentHarness.StartAsync();
        await agent.PublishTaskAsync("s0", AgentHarness.SplitTask(0, 200));
        await agent.WaitForAsync("model.deployed", "s0", Patience);

        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(agent.BrokerHost, agent.BrokerPort).WithProtocolVersion(MqttProtocolVersion.V500).Build());
        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"became/{agent.DeviceId}/models/pull").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await client.DisconnectAsync();

        var rejected = await agent.WaitForEventAsync(e => AgentHarness.Type(e) == "request.rejected", TimeSpan.FromSeconds(30), "request.rejected");
        Assert.Equal("no_response_topic", rejected.GetProperty("reason").GetString());
        Assert.Equal(1, agent.Deployed.Current.Version);
    }

    [Fact]
    public async Task Rollback_restores_the_old_predictions_exactly()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        await agent.PublishTaskAsync("s0", AgentHarness.SplitTask(0, 300));
        await agent.WaitForAsync("model.deployed", "s0", Patience);
        byte[] request = InferRequest("s0", 0, 50);
        string before = JsonDocument.Parse((await RequestAsync(agent, "infer", request)).Payload.ToArray()).RootElement.GetProperty("probabilities").GetRawText();
        await agent.PublishTaskAsync("s1", AgentHarness.SplitTask(1, 300));
        await agent.WaitForAsync("model.deployed", "s1", Patience);
        string after = JsonDocument.Parse((await RequestAsync(agent, "infer", request)).Payload.ToArray()).RootElement.GetProperty("probabilities").GetRawText();

        // The job that deployed s1 may still be finishing (its model.deployed comes before the job ends): then the
        // rollback is queued and applied as it ends, and its own model.deployed says when.
        var reply = await RequestAsync(agent, "cmd/rollback", Encoding.UTF8.GetBytes("{\"version\": 1}"));
        await agent.WaitForEventAsync(e => AgentHarness.Type(e) == "model.deployed" && e.TryGetProperty("rollback", out var r) && r.GetBoolean(), Patience, "the rollback's model.deployed");
        string rolledBack = JsonDocument.Parse((await RequestAsync(agent, "infer", request)).Payload.ToArray()).RootElement.GetProperty("probabilities").GetRawText();

        Assert.NotEqual(before, after);
        Assert.Equal(before, rolledBack);
        Assert.Equal(1, agent.Deployed.Current.Version);
        var answer = JsonDocument.Parse(reply.Payload.ToArray()).RootElement;
        Assert.True(answer.GetProperty("deployed").GetBoolean() || answer.GetProperty("queued").GetBoolean());
    }

    [Fact]
    public async Task Gate_keeps_a_model_that_failed_its_new_task_from_being_deployed()
    {
        var (agent, http) = await StartWithHttpAsync("--Gate:MinNewTaskAccuracy=75");
        await using var _ = agent;
        using var __ = http;
        await agent.PublishTaskAsync("good", AgentHarness.SplitTask(0, 300));
        await agent.WaitForAsync("model.deployed", "good", Patience);

        await agent.PublishTaskAsync("shuffled", ShuffledLabels(AgentHarness.SplitTask(1, 600)));
        var rejected = await agent.WaitForAsync("model.rejected", "shuffled", Patience);

        Assert.Equal(1, agent.Deployed.Current.Version);
        Assert.Equal(2, rejected.GetProperty("version").GetInt32());
        Assert.Contains("MinNewTaskAccuracy", rejected.GetProperty("reason").GetString());
        Assert.Equal(2, agent.Store.Versions().Count);
    }

    [Fact]
    public async Task Http_endpoints_need_the_token_except_healthz()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        using var anonymous = new HttpClient { BaseAddress = http.BaseAddress };

        using var models = await anonymous.GetAsync("/models");
        using var health = await anonymous.GetAsync("/healthz");
        using var authorised = await http.GetAsync("/models");

        Assert.Equal(HttpStatusCode.Unauthorized, models.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode); // live, not ready: no model yet
        Assert.Equal(HttpStatusCode.OK, authorised.StatusCode);
    }

    [Fact]
    public async Task Pull_command_saves_the_deployed_model_over_MQTT_and_HTTP()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        await LearnTwoTasksAsync(agent);
        string folder = Directory.CreateTempSubdirectory("became-pull-").FullName;
        try
        {
            string viaMqtt = Path.Combine(folder, "mqtt.safetensors");
            string viaHttp = Path.Combine(folder, "http.safetensors");
            int mqttExit = await Became.Cli.Tools.RequestCommands.PullAsync(["--broker", $"{agent.BrokerHost}:{agent.BrokerPort}", "--device", agent.DeviceId, "-o", viaMqtt], TextWriter.Null, TextWriter.Null, CancellationToken.None);
            int httpExit = await Became.Cli.Tools.RequestCommands.PullAsync(["--http", http.BaseAddress!.ToString(), "--token", Token, "--version", "1", "-o", viaHttp], TextWriter.Null, TextWriter.Null, CancellationToken.None);

            Assert.Equal(0, mqttExit);
            Assert.Equal(0, httpExit);
            Assert.Equal(agent.Store.Blobs.Get(agent.Store.Deployed()!.ModelBlob), await File.ReadAllBytesAsync(viaMqtt));
            Assert.Equal(agent.Store.Blobs.Get(agent.Store.FindVersion(1)!.ModelBlob), await File.ReadAllBytesAsync(viaHttp));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Metrics_and_health_report_the_deployed_model()
    {
        var (agent, http) = await StartWithHttpAsync();
        await using var _ = agent;
        using var __ = http;
        await LearnTwoTasksAsync(agent);

        string metrics = await http.GetStringAsync("/metrics");
        using var health = await http.GetAsync("/healthz");
        var tasks = JsonDocument.Parse(await http.GetStringAsync("/tasks")).RootElement;

        var scrape = Observability.PrometheusScrape.Parse(metrics);
        Assert.Equal(2, scrape.Value("became_deployed_version"));
        Assert.Equal(2, scrape.Value("became_deployed_tasks"));
        Assert.Equal(0, scrape.Value("became_queue_length"));
        Assert.True(scrape.Value("process_resident_memory_bytes") > 0);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(["s0", "s1"], tasks.EnumerateArray().Select(t => t.GetProperty("id").GetString()));
        Assert.All(tasks.EnumerateArray(), t => Assert.Equal("learned", t.GetProperty("state").GetString()));
    }

    /// <summary>The same images with their labels permuted at random: nothing to learn.</summary>
    private static byte[] ShuffledLabels(byte[] payload)
    {
        var file = SafeTensorsFile.Parse(payload);
        var x = file.Find("x")!;
        var y = file.Find("y")!;
        var labels = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(y.Data.Span).ToArray();
        new Random(7).Shuffle(labels);
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(labels.AsSpan()).ToArray();
        return SafeTensorsFile.Write([x, y with { Data = bytes }], new Dictionary<string, string>(file.Metadata));
    }
}
