using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Cli.Tests.Tools;

/// <summary><c>became fleet status</c> on a real broker holding retained statuses, and <c>became publish --group</c>'s
/// usage rules.</summary>
public sealed class FleetCommandTests : IAsyncLifetime
{
    private ITestBroker? _broker;
    private IMqttClient? _client;

    private int Port => _broker!.Port;

    public async Task InitializeAsync()
    {
        _broker = await TestBrokers.StartAsync(BrokerKind.Embedded, NullLoggerFactory.Instance);
        _client = new MqttClientFactory().CreateMqttClient();
        await _client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", Port).WithProtocolVersion(MqttProtocolVersion.V500).WithClientId("devices-" + Guid.NewGuid().ToString("N")).Build());
        string now = DateTimeOffset.UtcNow.ToString("O");
        await StatusAsync("cam-1", $$"""{"state":"idle","deployedVersion":3,"queueLength":0,"tasksLearned":3,"lastError":null,"time":"{{now}}","groups":["line-1"]}""");
        await StatusAsync("cam-2", $$"""{"state":"training","deployedVersion":2,"queueLength":1,"tasksLearned":2,"lastError":null,"time":"{{now}}","groups":["line-1","hall-b"]}""");
        await StatusAsync("cam-3", $$"""{"state":"offline","deployedVersion":0,"queueLength":0,"tasksLearned":0,"lastError":null,"time":"{{now}}","groups":["line-1"]}""");
        await StatusAsync("other", $$"""{"state":"idle","deployedVersion":1,"queueLength":0,"tasksLearned":1,"lastError":null,"time":"{{now}}"}""");
    }

    public async Task DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisconnectAsync();
            _client.Dispose();
        }

        await _broker!.DisposeAsync();
    }

    [Fact]
    public async Task Fleet_status_lists_every_device_one_line_each_with_its_groups()
    {
        var (code, output, error) = await CommandLineTests.RunAsync("fleet", "status", "--broker", $"127.0.0.1:{Port}");

        Assert.True(code == 0, error);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("DEVICE", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^cam-1\s+idle\s+3\s+0\s+3\s+line-1\s+\d+s ago$", lines[1]);
        Assert.Matches(@"^cam-2\s+training\s+2\s+1\s+2\s+line-1,hall-b\s", lines[2]);
        Assert.Matches(@"^cam-3\s+offline\s+-\s+-\s+-\s+line-1\s+offline \(last will", lines[3]);
        Assert.Matches(@"^other\s+idle\s+1\s+0\s+1\s+-\s", lines[4]);
        Assert.Equal("4 devices: 3 online, 1 offline", lines[5].Trim());
    }

    [Fact]
    public async Task Fleet_status_filters_by_group_and_speaks_json()
    {
        var (code, output, error) = await CommandLineTests.RunAsync("fleet", "status", "--broker", $"127.0.0.1:{Port}", "--group", "hall-b", "--json");

        Assert.True(code == 0, error);
        var device = Assert.Single(JsonDocument.Parse(output).RootElement.EnumerateArray());
        Assert.Equal("cam-2", device.GetProperty("device").GetString());
        Assert.Equal(1, device.GetProperty("queueLength").GetInt32());
        Assert.Equal(["line-1", "hall-b"], device.GetProperty("groups").EnumerateArray().Select(g => g.GetString()));
    }

    [Fact]
    public async Task Fleet_status_watch_prints_each_change_of_the_group_until_cancelled()
    {
        using var inner = new StringWriter();
        using var output = TextWriter.Synchronized(inner);
        using var stop = new CancellationTokenSource();

        // The synchronized writer locks itself around each write.
        string Text(TextWriter _)
        {
            lock (output)
            {
                return inner.ToString();
            }
        }

        var run = BecameCli.RunAsync(["fleet", "status", "--broker", $"127.0.0.1:{Port}", "--group", "line-1", "--watch"], output, TextWriter.Null, stop.Token);
        await Eventually.TrueAsync(() => Text(output).Contains("3 devices", StringComparison.Ordinal), "the first listing", TimeSpan.FromSeconds(60));

        await StatusAsync("other", """{"state":"training","deployedVersion":1,"queueLength":1,"tasksLearned":1,"time":"2026-01-01T00:00:00Z"}""");
        await StatusAsync("cam-3", """{"state":"idle","deployedVersion":4,"queueLength":0,"tasksLearned":4,"time":"2026-01-01T00:00:00Z","groups":["line-1"]}""");
        await Eventually.TrueAsync(() => Text(output).Contains("cam-3 ", StringComparison.Ordinal) && Text(output).Split('\n').Any(l => l.Contains("cam-3", StringComparison.Ordinal) && l.Contains("idle", StringComparison.Ordinal)), "cam-3's change", TimeSpan.FromSeconds(60));
        stop.Cancel();

        Assert.Equal(130, await run.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.DoesNotContain("other", Text(output), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fleet_status_says_so_when_no_device_is_there()
    {
        var (code, output, _) = await CommandLineTests.RunAsync("fleet", "status", "--broker", $"127.0.0.1:{Port}", "--topic-root", "nobody");

        Assert.Equal(0, code);
        Assert.Contains("no device has a status on nobody/+/status", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--device", "d1", "--group", "g" }, "give --device ID or --group G")]
    [InlineData(new string[0], "give --device ID or --group G")]
    [InlineData(new[] { "--group", "g", "--wait" }, "--wait follows one device")]
    [InlineData(new[] { "--group", "line/1" }, "--group 'line/1'")]
    public async Task Publish_to_a_group_takes_exactly_one_target_and_no_wait(string[] target, string message)
    {
        var result = await CommandLineTests.RunAsync(["publish", "--broker", "127.0.0.1:1", "--stream", "split-fmnist", "--tasks", "0", "--samples", "10", .. target]);

        BecameCommand.AssertUsageError(result, message);
    }

    private Task StatusAsync(string device, string json) =>
        _client!.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"became/{device}/status").WithPayload(json).WithRetainFlag().WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
}
