using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Became.Agent.Serving;
using Became.Agent.Tests.Agent;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Agent.Tests.Security;

/// <summary>The HTTP bearer token, and request sizes checked before a request is buffered or parsed.</summary>
[Trait("Speed", "Slow")]
public sealed class RequestLimitTests
{
    private const string Token = "limits-token-0123456789";
    private const int MaxRequestBytes = 4096;

    [Fact]
    public async Task Http_request_with_a_wrong_or_partial_token_is_refused()
    {
        var (agent, http) = await StartAsync();
        await using var _ = agent;
        using var __ = http;

        using var wrong = await GetAsync(http, "/models", "Bearer " + Token[..^1] + "x");
        using var bare = await GetAsync(http, "/models", Token);
        using var right = await GetAsync(http, "/models", "Bearer " + Token);

        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, bare.StatusCode);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
    }

    [Fact]
    public async Task Http_infer_body_over_the_request_limit_is_refused_with_413()
    {
        var (agent, http) = await StartAsync();
        await using var _ = agent;
        using var __ = http;
        using var body = new ByteArrayContent(new byte[MaxRequestBytes * 4]);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/infer") { Content = body };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Mqtt_infer_over_the_request_limit_gets_a_too_large_reply()
    {
        var (agent, http) = await StartAsync();
        await using var _ = agent;
        using var __ = http;
        byte[] request = Encoding.UTF8.GetBytes("{\"taskId\":\"t\",\"inputs\":[[" + string.Join(',', Enumerable.Repeat("0.5", MaxRequestBytes)) + "]]}");

        var reply = await RequestAsync(agent, request);

        Assert.Equal("too_large", reply.UserProperties!.Single(p => p.Name == "error").ReadValueAsString());
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", true)]
    [InlineData("http://localhost:8080", true)]
    [InlineData("http://[::1]:8080", true)]
    [InlineData("http://0.0.0.0:8080", false)]
    [InlineData("http://*:8080", false)]
    [InlineData("http://+:8080", false)]
    [InlineData("http://192.168.1.20:8080", false)]
    public void Loopback_urls_are_told_apart_from_ones_reachable_from_other_machines(string url, bool loopback)
    {
        Assert.Equal(loopback, HttpToken.IsLoopback(url));
    }

    private static async Task<(AgentHarness Agent, HttpClient Http)> StartAsync()
    {
        int port = TestBrokers.FreePort();
        var agent = await AgentHarness.StartAsync(extraArgs: [$"--HttpUrls=http://127.0.0.1:{port}", $"--HttpToken={Token}", $"--Limits:MaxRequestBytes={MaxRequestBytes}"]);
        return (agent, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") });
    }

    private static Task<HttpResponseMessage> GetAsync(HttpClient http, string path, string authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return http.SendAsync(request);
    }

    private static async Task<MqttApplicationMessage> RequestAsync(AgentHarness agent, byte[] payload)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var reply = new TaskCompletionSource<MqttApplicationMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ApplicationMessageReceivedAsync += e =>
        {
            reply.TrySetResult(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(agent.BrokerHost, agent.BrokerPort).WithProtocolVersion(MqttProtocolVersion.V500).Build());
        string responseTopic = $"test/{Guid.NewGuid():N}/reply";
        await client.SubscribeAsync(responseTopic, MqttQualityOfServiceLevel.AtLeastOnce);
        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"became/{agent.DeviceId}/infer").WithPayload(payload)
            .WithResponseTopic(responseTopic).WithCorrelationData([7]).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        return await reply.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
