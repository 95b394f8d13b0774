using System.Buffers;
using System.Text;
using Became.Agent.Mqtt;
using Became.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Agent.Tests.ProtocolChecks;

/// <summary>The one MQTT 5 request/reply client, on mosquitto and on the embedded broker: each request carries the
/// client's response topic and its own correlation data, replies are matched by it (also out of order), an error
/// property is the reply's error, and no reply is a <see cref="TimeoutException"/>.</summary>
[Trait("Speed", "Slow")]
public sealed class MqttRequestClientTests
{
    private const string RequestTopic = "became/dev-r/infer";

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Replies_are_matched_by_correlation_data_even_out_of_order(BrokerKind kind)
    {
        await using var broker = await TestBrokers.StartAsync(kind, NullLoggerFactory.Instance);
        using var responder = await ResponderAsync(broker.Port, answerAfter: 2);
        string responseTopic = Topics.Reply("became", "dev-r", $"cli-{Guid.NewGuid():N}");
        await using var client = await MqttRequestClient.ConnectAsync(MqttEndpoint.Tool("127.0.0.1", broker.Port, null, "test-req"), responseTopic, CancellationToken.None);

        var first = client.RequestAsync(RequestTopic, Encoding.UTF8.GetBytes("one"), TimeSpan.FromSeconds(60), CancellationToken.None);
        var second = client.RequestAsync(RequestTopic, Encoding.UTF8.GetBytes("bad"), TimeSpan.FromSeconds(60), CancellationToken.None);
        var replies = await Task.WhenAll(first, second);

        Assert.Equal(("echo one", null, "3"), (Encoding.UTF8.GetString(replies[0].Payload), replies[0].Error, replies[0].Properties["version"]));
        Assert.Equal(("echo bad", ErrorCodes.BadRequest), (Encoding.UTF8.GetString(replies[1].Payload), replies[1].Error));
        Assert.All(responder.Seen, m => Assert.Equal(responseTopic, m.ResponseTopic));
        Assert.Equal(2, responder.Seen.Select(m => Convert.ToHexString(m.Correlation)).Distinct().Count());
        await Task.WhenAll(responder.Answering);
    }

    [Fact]
    public async Task No_reply_is_a_timeout()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Embedded, NullLoggerFactory.Instance);
        await using var client = await MqttRequestClient.ConnectAsync(MqttEndpoint.Tool("127.0.0.1", broker.Port, null, "test-req"), "became/nobody/replies/x", CancellationToken.None);

        await Assert.ThrowsAsync<TimeoutException>(() => client.RequestAsync("became/nobody/infer", [], TimeSpan.FromMilliseconds(300), CancellationToken.None));
    }

    [Fact]
    public async Task The_agents_requester_asks_a_peer_with_its_broker_settings_on_a_reply_topic_below_the_prefix()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Embedded, NullLoggerFactory.Instance);
        using var responder = await ResponderAsync(broker.Port, answerAfter: 1);
        var requester = new MqttRequester(new MqttConnectionOptions { Host = "127.0.0.1", Port = broker.Port, ClientId = "dev-b", WillTopic = "became/dev-b/status", WillPayload = "{}" });

        await using var session = await requester.OpenAsync("became/dev-r/replies/dev-b/", CancellationToken.None);
        var reply = await session.RequestAsync(RequestTopic, Encoding.UTF8.GetBytes("pull"), TimeSpan.FromSeconds(60), CancellationToken.None);

        Assert.Equal("echo pull", Encoding.UTF8.GetString(reply.Payload));
        Assert.StartsWith("became/dev-r/replies/dev-b/", session.ResponseTopic, StringComparison.Ordinal);
        Assert.Equal(session.ResponseTopic, Assert.Single(responder.Seen).ResponseTopic);
    }

    /// <summary>A device stand-in on <see cref="RequestTopic"/>: once <paramref name="answerAfter"/> requests are in,
    /// answers them last first ("echo {payload}", version 3; a payload "bad" gets an error property).</summary>
    private static async Task<Responder> ResponderAsync(int port, int answerAfter)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var responder = new Responder(client);
        client.ApplicationMessageReceivedAsync += e =>
        {
            var request = new Request(e.ApplicationMessage.ResponseTopic, e.ApplicationMessage.CorrelationData.ToArray(), Encoding.UTF8.GetString(e.ApplicationMessage.Payload));
            List<Request> batch;
            lock (responder.Seen)
            {
                responder.Seen.Add(request);
                if (responder.Seen.Count % answerAfter != 0)
                {
                    return Task.CompletedTask;
                }

                batch = responder.Seen.TakeLast(answerAfter).Reverse().ToList();
            }

            // Answered off the receive loop, which a QoS 1 publish would wait on for its PUBACK.
            responder.Answering.Add(Task.Run(async () =>
            {
                foreach (var r in batch)
                {
                    var reply = new MqttApplicationMessageBuilder().WithTopic(r.ResponseTopic).WithPayload($"echo {r.Text}")
                        .WithCorrelationData(r.Correlation).WithUserProperty("version", Encoding.UTF8.GetBytes("3")).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
                    if (r.Text == "bad")
                    {
                        reply.WithUserProperty("error", Encoding.UTF8.GetBytes(ErrorCodes.BadRequest));
                    }

                    await client.PublishAsync(reply.Build());
                }
            }));
            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(MqttProtocolVersion.V500).Build());
        await client.SubscribeAsync(RequestTopic, MqttQualityOfServiceLevel.AtLeastOnce);
        return responder;
    }

    private sealed record Request(string ResponseTopic, byte[] Correlation, string Text);

    private sealed class Responder(IMqttClient client) : IDisposable
    {
        public List<Request> Seen { get; } = [];

        public System.Collections.Concurrent.ConcurrentBag<Task> Answering { get; } = [];

        public void Dispose() => client.Dispose();
    }
}
