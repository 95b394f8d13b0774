using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Became.Agent.Tests.Mqtt;
using Became.Core.Data;
using Became.Core.Serialization;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Agent.Tests.Agent;

/// <summary>One agent with a deployed model (task s0) and HTTP, shared by the hostile-request tests.</summary>
public sealed class DeployedAgentFixture : IAsyncLifetime
{
    public const string Token = "hostile-token-0123456789";

    public AgentHarness Agent { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        int port = TestBrokers.FreePort();
        Agent = await AgentHarness.StartAsync(extraArgs: [$"--HttpUrls=http://127.0.0.1:{port}", $"--HttpToken={Token}"]);
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        await Agent.PublishTaskAsync("s0", AgentHarness.SplitTask(0, 200));
        await Agent.WaitForAsync("model.deployed", "s0", TimeSpan.FromSeconds(180));
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Agent.DisposeAsync();
    }
}

/// <summary>Requests a hostile client sends: malformed bodies, reflected response topics, extreme values, odd encodings.</summary>
[Trait("Speed", "Slow")]
public sealed class HostileRequestTests(DeployedAgentFixture fixture) : IClassFixture<DeployedAgentFixture>
{
    private AgentHarness Agent => fixture.Agent;

    [Theory]
    [InlineData("models/pull", "{\"version\":\"x\"}")]
    [InlineData("models/pull", "{\"version\":\"1\"}")]
    [InlineData("models/pull", "[1]")]
    [InlineData("models/pull", "null")]
    [InlineData("models/pull", "5")]
    [InlineData("cmd/rollback", "{\"version\":\"x\"}")]
    [InlineData("cmd/rollback", "{\"version\":\"1\"}")]
    [InlineData("cmd/rollback", "[1]")]
    [InlineData("cmd/rollback", "null")]
    [InlineData("cmd/rollback", "5")]
    public async Task Malformed_pull_or_rollback_request_gets_a_bad_request_reply(string suffix, string payload)
    {
        var reply = await HostileRequests.RequestAsync(Agent, suffix, Encoding.UTF8.GetBytes(payload));

        Assert.Equal("bad_request", HostileRequests.UserProperty(reply, "error"));
        Assert.Equal(1, Agent.Deployed.Current.Version);
    }

    [Fact]
    public async Task Infer_from_an_MQTT_3_1_1_client_gets_a_request_rejected_event()
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(Agent.BrokerHost, Agent.BrokerPort).WithProtocolVersion(MqttProtocolVersion.V311).Build());
        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"became/{Agent.DeviceId}/infer")
            .WithPayload(HostileRequests.InferJson("s0", 2)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await client.DisconnectAsync();

        var rejected = await Agent.WaitForEventAsync(
            e => e.TryGetProperty("reason", out var reason) && reason.GetString() == "no_response_topic",
            TimeSpan.FromSeconds(30), "request.rejected (no_response_topic)");
        Assert.Equal("infer", rejected.GetProperty("request").GetString());
    }

    [Theory]
    [InlineData("became/{id}/cmd/rollback")]
    [InlineData("became/{id}/tasks/reflected")]
    [InlineData("became/other-device/tasks/reflected")]
    [InlineData("became/{id}/models/pull")]
    [InlineData("became/{id}/infer")]
    [InlineData("became/{id}/events")]
    [InlineData("became/{id}/status")]
    [InlineData("test/+/reply")]
    [InlineData("test/#")]
    [InlineData("$SYS/reply")]
    public async Task Infer_whose_response_topic_is_a_device_topic_or_no_topic_name_is_refused_with_an_event(string template)
    {
        string responseTopic = template.Replace("{id}", Agent.DeviceId, StringComparison.Ordinal);
        byte[] correlation = Guid.NewGuid().ToByteArray();
        var seen = Channel.CreateUnbounded<MqttApplicationMessage>();
        using var watcher = new MqttClientFactory().CreateMqttClient();
        watcher.ApplicationMessageReceivedAsync += e =>
        {
            seen.Writer.TryWrite(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        await watcher.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(Agent.BrokerHost, Agent.BrokerPort).WithProtocolVersion(MqttProtocolVersion.V500).Build());

        // One subscriber for the events and every topic a reply could reach: the agent's messages arrive in the order it sent them.
        // No Local: the watcher does not get its own request back.
        await watcher.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(new MqttTopicFilterBuilder().WithTopic("became/#").WithAtLeastOnceQoS().WithNoLocal().Build())
            .WithTopicFilter(new MqttTopicFilterBuilder().WithTopic("test/#").WithAtLeastOnceQoS().WithNoLocal().Build()).Build());
        await watcher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"became/{Agent.DeviceId}/infer").WithPayload(HostileRequests.InferJson("s0", 2))
            .WithResponseTopic(responseTopic).WithCorrelationData(correlation).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        JsonElement? rejected = null;
        while (rejected is null)
        {
            var message = await seen.Reader.ReadAsync(deadline.Token);
            Assert.False(message.CorrelationData is { } c && c.SequenceEqual(correlation), $"A reply was published on {message.Topic}.");
            if (message.Topic == $"became/{Agent.DeviceId}/events" && JsonDocument.Parse(message.ConvertPayloadToString()).RootElement is var e
                && AgentHarness.Type(e) == "request.rejected" && e.GetProperty("reason").GetString() == "bad_response_topic"
                && e.GetProperty("message").GetString()!.Contains(responseTopic, StringComparison.Ordinal))
            {
                rejected = e;
            }
        }

        Assert.Equal("infer", rejected.Value.GetProperty("request").GetString());
        Assert.DoesNotContain(Agent.Events, e => AgentHarness.Type(e) == "model.deployed" && e.TryGetProperty("rollback", out _));
        await watcher.DisconnectAsync();
    }

    [Fact]
    public async Task Infer_with_huge_finite_inputs_gets_a_clear_error_over_MQTT_and_HTTP()
    {
        byte[] request = Encoding.UTF8.GetBytes("{\"taskId\":\"s0\",\"inputs\":[" + string.Join(',', Enumerable.Repeat("[" + string.Join(',', Enumerable.Repeat("3e38", 784)) + "]", 2)) + "]}");

        var reply = await HostileRequests.RequestAsync(Agent, "infer", request);
        using var response = await fixture.Http.PostAsync("/infer", new ByteArrayContent(request));
        var body = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync()).RootElement;

        Assert.Equal("out_of_range", HostileRequests.UserProperty(reply, "error"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("out_of_range", body.GetProperty("error").GetString());
        Assert.Contains("[0, 1]", body.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("space")]
    [InlineData("whitespace")]
    [InlineData("bom")]
    [InlineData("bom-and-space")]
    [InlineData("safetensors")]
    public async Task Infer_request_with_leading_whitespace_or_a_BOM_is_answered(string form)
    {
        byte[] json = HostileRequests.InferJson("s0", 3);
        byte[] request = form switch
        {
            "space" => [.. " "u8, .. json],
            "whitespace" => [.. "\r\n\t  "u8, .. json],
            "bom" => [0xEF, 0xBB, 0xBF, .. json],
            "bom-and-space" => [0xEF, 0xBB, 0xBF, .. "\n "u8, .. json],
            _ => HostileRequests.InferSafeTensors("s0", 3),
        };

        var reply = await HostileRequests.RequestAsync(Agent, "infer", request);
        using var response = await fixture.Http.PostAsync("/infer", new ByteArrayContent(request));
        string overHttp = await response.Content.ReadAsStringAsync();

        Assert.Null(reply.UserProperties?.FirstOrDefault(p => p.Name == "error"));
        Assert.Equal(3, JsonDocument.Parse(reply.Payload.ToArray()).RootElement.GetProperty("predictions").GetArrayLength());
        Assert.True(response.StatusCode == HttpStatusCode.OK, overHttp);
        Assert.Equal(3, JsonDocument.Parse(overHttp).RootElement.GetProperty("predictions").GetArrayLength());
    }

    [Fact]
    public async Task Request_whose_handling_fails_unexpectedly_gets_an_internal_error_over_MQTT_and_HTTP()
    {
        // A real fault: the deployed model's file went bad on disk, so reading it throws.
        string path = Path.Combine(Agent.Store.Blobs.Directory, Agent.Store.Deployed()!.ModelBlob);
        byte[] original = await File.ReadAllBytesAsync(path);
        try
        {
            byte[] damaged = [.. original];
            damaged[^1] ^= 0xFF;
            await File.WriteAllBytesAsync(path, damaged);

            var reply = await HostileRequests.RequestAsync(Agent, "models/pull", []);
            using var response = await fixture.Http.GetAsync("/models/current");
            string body = await response.Content.ReadAsStringAsync();

            Assert.Equal("internal_error", HostileRequests.UserProperty(reply, "error"));
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
            Assert.Equal("internal_error", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
        }
        finally
        {
            await File.WriteAllBytesAsync(path, original);
        }
    }
}

/// <summary>A head of 10,000 classes on a broker with a 1 MB packet limit: replies that would not fit.</summary>
[Trait("Speed", "Slow")]
public sealed class LargeReplyTests : IAsyncLifetime
{
    private const int BrokerMaxPacketSize = 1_000_000;
    private ITestBroker _broker = null!;
    private AgentHarness _agent = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, $"max_packet_size {BrokerMaxPacketSize}");
        int port = TestBrokers.FreePort();
        _agent = await AgentHarness.StartAsync(_broker.Port, extraArgs: [$"--HttpUrls=http://127.0.0.1:{port}"]);
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var task = SafeTensorsFile.Parse(AgentHarness.SplitTask(0, 100));
        await _agent.PublishTaskAsync("wide", SafeTensorsFile.Write(task.Tensors, new Dictionary<string, string>(task.Metadata) { ["classes"] = "10000" }));
        await _agent.WaitForAsync("model.deployed", "wide", TimeSpan.FromSeconds(180));
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _agent.DisposeAsync();
        await _broker.DisposeAsync();
    }

    [Fact]
    public async Task Infer_whose_reply_would_exceed_MaxInferOutputs_gets_too_large_and_events_keep_flowing()
    {
        // 200 inputs x 10,000 classes: 2,000,000 probabilities, about 27 MB of JSON; the default limit is 100,000.
        byte[] request = HostileRequests.InferSafeTensors("wide", 200);

        var reply = await HostileRequests.RequestAsync(_agent, "infer", request);
        using var response = await _http.PostAsync("/infer", new ByteArrayContent(request));
        await _agent.PublishTaskAsync("after", AgentHarness.SplitTask(1, 100));

        Assert.Equal("too_large", HostileRequests.UserProperty(reply, "error"));
        Assert.Contains("Limits:MaxInferOutputs", JsonDocument.Parse(reply.Payload.ToArray()).RootElement.GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        await _agent.WaitForAsync("task.accepted", "after", TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task Reply_larger_than_the_brokers_packet_limit_is_dropped_with_an_event_and_events_keep_flowing()
    {
        // 10 inputs x 10,000 classes: within MaxInferOutputs, but the JSON reply is over the broker's 1 MB.
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(_agent.BrokerHost, _agent.BrokerPort).WithProtocolVersion(MqttProtocolVersion.V500).Build());
        string responseTopic = $"test/{Guid.NewGuid():N}/reply";
        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"became/{_agent.DeviceId}/infer").WithPayload(HostileRequests.InferSafeTensors("wide", 10))
            .WithResponseTopic(responseTopic).WithCorrelationData([1]).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await client.DisconnectAsync();

        var dropped = await _agent.WaitForEventAsync(e => AgentHarness.Type(e) == "message.dropped", TimeSpan.FromSeconds(60), "message.dropped");
        await _agent.PublishTaskAsync("after", AgentHarness.SplitTask(1, 100));

        Assert.Equal(responseTopic, dropped.GetProperty("topic").GetString());
        Assert.Equal("too_large", dropped.GetProperty("reason").GetString());
        Assert.True(dropped.GetProperty("bytes").GetInt64() > BrokerMaxPacketSize);
        await _agent.WaitForAsync("task.accepted", "after", TimeSpan.FromSeconds(60));
    }
}

/// <summary>MQTT 5 requests and payloads for the hostile-request tests.</summary>
internal static class HostileRequests
{
    private static readonly Lazy<ImageClassificationDataset> Dataset = new(() => ImageClassificationDataset.Load());

    /// <summary>Sends a request with a private response topic and waits for the reply.</summary>
    public static Task<MqttApplicationMessage> RequestAsync(AgentHarness agent, string suffix, byte[] payload) =>
        MqttRequest.SendAsync(agent, suffix, payload, TimeSpan.FromSeconds(20));

    public static string UserProperty(MqttApplicationMessage message, string name) =>
        message.UserProperties!.Single(p => p.Name == name).ReadValueAsString();

    /// <summary>JSON infer request of the first <paramref name="count"/> test images, scaled to [0, 1].</summary>
    public static byte[] InferJson(string taskId, int count)
    {
        var test = Dataset.Value.Test;
        var inputs = Enumerable.Range(0, count).Select(i => test.Image(i).ToArray().Select(b => Math.Round(b / 255.0, 4)).ToArray()).ToArray();
        return JsonSerializer.SerializeToUtf8Bytes(new { taskId, inputs });
    }

    /// <summary>Safetensors infer request: x uint8 [count, 784] of the first test images.</summary>
    public static byte[] InferSafeTensors(string taskId, int count)
    {
        var test = Dataset.Value.Test;
        byte[] pixels = [.. Enumerable.Range(0, count).SelectMany(i => test.Image(i % test.Count).ToArray())];
        return SafeTensorsFile.Write([new SafeTensor("x", SafeTensorDType.U8, [count, pixels.Length / count], pixels)], new Dictionary<string, string> { ["taskId"] = taskId });
    }
}
