using System.Net;
using System.Net.Sockets;
using System.Text;
using Became.Agent.Mqtt;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Agent.Tests.Mqtt;

/// <summary>The embedded broker's port (one listener only, fast restarts) and its clients without an id.</summary>
[Trait("Speed", "Slow")]
public sealed class EmbeddedBrokerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task A_second_broker_on_the_same_port_is_refused_naming_the_port()
    {
        await using var first = new EmbeddedBroker(0, NullLogger<EmbeddedBroker>.Instance);
        await first.StartAsync(CancellationToken.None);
        await using var second = new EmbeddedBroker(first.Port, NullLogger<EmbeddedBroker>.Instance);

        var error = await Assert.ThrowsAsync<PortInUseException>(() => second.StartAsync(CancellationToken.None));

        Assert.Contains($"port {first.Port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("--embedded-port", error.Message, StringComparison.Ordinal);
        Assert.False(second.IsRunning);
        await using var probe = await MqttProbe.ConnectAsync(first.Port);
        await probe.RoundTripAsync();
    }

    [Fact]
    public async Task A_port_another_program_holds_is_refused_naming_the_port()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        int port = ((IPEndPoint)holder.LocalEndpoint).Port;
        await using var broker = new EmbeddedBroker(port, NullLogger<EmbeddedBroker>.Instance);

        var error = await Assert.ThrowsAsync<PortInUseException>(() => broker.StartAsync(CancellationToken.None));

        Assert.Contains($"port {port}", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_broker_binds_its_port_again_at_once_after_serving_clients()
    {
        // The previous run's connections still hold the broker's port (closing, or in TIME_WAIT after the broker closed
        // them); binding it again needs SO_REUSEADDR, which .NET sets on Linux by itself (without SO_REUSEPORT).
        int port;
        var connected = new List<MqttProbe>();
        try
        {
            await using (var first = new EmbeddedBroker(0, NullLogger<EmbeddedBroker>.Instance))
            {
                await first.StartAsync(CancellationToken.None);
                port = first.Port;
                for (int i = 0; i < 3; i++)
                {
                    var probe = await MqttProbe.ConnectAsync(port);
                    connected.Add(probe);
                    await probe.RoundTripAsync();
                }
            }

            // Whether the old connections still hold the port depends on how they were closed: gracefully (the port then
            // lingers in FIN_WAIT/TIME_WAIT, and binding it again needs SO_REUSEADDR) or reset (nothing lingers). Both
            // happen under load; the bind below must succeed either way, and the output says which case ran.
            output.WriteLine(LingeringPorts().Contains(port) ? $"port {port} lingers: rebinding over closing connections" : $"port {port} left no connection behind (reset)");
            await using var again = new EmbeddedBroker(port, NullLogger<EmbeddedBroker>.Instance);
            await again.StartAsync(CancellationToken.None);
            await using var client = await MqttProbe.ConnectAsync(port);
            await client.RoundTripAsync();
        }
        finally
        {
            foreach (var probe in connected)
            {
                await probe.DisposeAsync();
            }
        }
    }

    // Local ports of IPv4 TCP connections that are not listeners (established, closing, TIME_WAIT...) in /proc/net/tcp.
    private static HashSet<int> LingeringPorts() =>
        File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f[3] != "0A")
            .Select(f => Convert.ToInt32(f[1].Split(':')[1], 16))
            .ToHashSet();

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task A_client_without_a_client_id_is_assigned_one_as_mosquitto_does(MqttProtocolVersion version)
    {
        await using var broker = new EmbeddedBroker(0, NullLogger<EmbeddedBroker>.Instance);
        await broker.StartAsync(CancellationToken.None);

        // As `mosquitto_sub -h 127.0.0.1 -t 'became/#'` connects: no client id, clean session.
        await using var probe = await MqttProbe.ConnectAsync(broker.Port, clientId: "", version);

        await probe.RoundTripAsync();
        if (version == MqttProtocolVersion.V500)
        {
            Assert.False(string.IsNullOrEmpty(probe.AssignedClientId));
        }
    }
}

/// <summary>A plain MQTTnet client that subscribes to a topic of its own and sees its own message come back.</summary>
internal sealed class MqttProbe : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly string _topic = $"probe/{Guid.NewGuid():N}";
    private readonly TaskCompletionSource<string> _received = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private MqttProbe(IMqttClient client, string? assignedClientId)
    {
        _client = client;
        AssignedClientId = assignedClientId;
        client.ApplicationMessageReceivedAsync += e =>
        {
            _received.TrySetResult(Encoding.UTF8.GetString(e.ApplicationMessage.Payload));
            return Task.CompletedTask;
        };
    }

    public string? AssignedClientId { get; }

    public static async Task<MqttProbe> ConnectAsync(int port, string? clientId = null, MqttProtocolVersion version = MqttProtocolVersion.V500)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithProtocolVersion(version)
            .WithClientId(clientId ?? $"probe-{Guid.NewGuid():N}")
            .WithCleanSession(true)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build();
        try
        {
            var result = await client.ConnectAsync(options);
            Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
            return new MqttProbe(client, result.AssignedClientIdentifier);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public async Task RoundTripAsync()
    {
        await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(_topic, MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(_topic).WithPayload("ping").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.Equal("ping", await _received.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            try
            {
                await _client.DisconnectAsync();
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException)
            {
                // The broker is gone already.
            }
        }

        _client.Dispose();
    }
}
