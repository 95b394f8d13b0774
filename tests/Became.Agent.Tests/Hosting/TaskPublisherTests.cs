using System.Diagnostics;
using Became.Agent.Hosting;
using Became.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Became.Agent.Tests.HostingChecks;

/// <summary>`became publish` (TaskPublisher) sends a full-size task as fast as the broker takes it, on mosquitto and on
/// the embedded broker, and the task arrives whole.</summary>
[Trait("Speed", "Slow")]
public sealed class TaskPublisherTests(ITestOutputHelper output)
{
    // MQTTnet's default 8 KiB socket buffers (autotuning off) sent a 9 MiB task 64 KiB per delayed ACK: at least
    // 40 ms each, 5-7 s whatever the load (5.2 s embedded, 6.6 s mosquitto measured), against 1.1-1.2 s now on the
    // 2-core test machine at load average 60-80 (0.1 s of it on the wire, by strace).
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(4);

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task A_9_MiB_task_is_published_without_waiting_on_the_socket(BrokerKind kind)
    {
        await using var broker = await TestBrokers.StartAsync(kind, NullLoggerFactory.Instance);
        byte[] payload = AgentHarness.SplitTask(0, int.MaxValue);
        Assert.True(payload.Length > 9 << 20, $"the task is {payload.Length} bytes");

        using var subscriber = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult((int)e.ApplicationMessage.Payload.Length);
            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port)
            .WithProtocolVersion(MqttProtocolVersion.V500).Build());
        await subscriber.SubscribeAsync("became/d1/tasks/#", MqttQualityOfServiceLevel.AtLeastOnce);

        // Once for the JIT and the connection code paths, then timed.
        await TaskPublisher.PublishAsync("127.0.0.1", broker.Port, "became", "d1", [("warm-up", payload)], TextWriter.Null, CancellationToken.None);
        Assert.Equal(payload.Length, await received.Task.WaitAsync(TimeSpan.FromMinutes(2)));
        received = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        var clock = Stopwatch.StartNew();
        await TaskPublisher.PublishAsync("127.0.0.1", broker.Port, "became", "d1", [("t0", payload)], TextWriter.Null, CancellationToken.None);
        var published = clock.Elapsed;

        Assert.Equal(payload.Length, await received.Task.WaitAsync(TimeSpan.FromMinutes(2)));
        output.WriteLine($"{kind}: {payload.Length / 1048576.0:F1} MiB published (PUBACK) in {published.TotalSeconds:F2} s, received whole after {clock.Elapsed.TotalSeconds:F2} s");
        Assert.True(published < Bound, $"publishing {payload.Length / 1048576.0:F1} MiB took {published.TotalSeconds:F1} s");
    }
}
