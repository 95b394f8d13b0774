using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Became.Cli.Tools;
using Microsoft.Extensions.Logging.Abstractions;

namespace Became.Cli.Tests.Tools;

/// <summary><c>became status</c> against a real agent on a real broker: the table after a task is learned, the raw
/// JSON, the live view while a task trains, offline after a stop, and one line for a device that never answers.</summary>
[Trait("Speed", "Slow")]
public sealed class StatusCommandTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Status_after_a_learned_task_shows_the_version_and_its_accuracy_and_offline_after_a_stop()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance);
        await using var agent = await AgentHarness.StartAsync(externalPort: broker.Port);
        await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 200));
        var deployed = await agent.WaitForAsync("model.deployed", "t0", Deadline);
        double accuracy = deployed.GetProperty("accuracy").GetProperty("t0").GetDouble();
        string[] target = ["status", "--broker", $"127.0.0.1:{broker.Port}", "--device", agent.DeviceId];

        // The idle status follows the deployed event (after the job's clean-up).
        var deadline = DateTime.UtcNow + Deadline;
        while ((await agent.ReadStatusAsync()).GetProperty("state").GetString() != "idle")
        {
            Assert.True(DateTime.UtcNow < deadline, "the retained status never became idle");
            await Task.Delay(100);
        }

        var table = await CommandLineTests.RunAsync(target);

        Assert.True(table.Code == 0, table.Error);
        string[] lines = table.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains($"device         {agent.DeviceId} (mqtt 127.0.0.1:{broker.Port})", lines);
        Assert.Contains("state          idle", lines);
        Assert.Contains("version        1", lines);
        Assert.Contains("tasks learned  1", lines);
        Assert.Contains("queue          0", lines);
        Assert.Contains("last error     -", lines);
        Assert.Contains($"accuracy       t0 {accuracy.ToString("0.0", CultureInfo.InvariantCulture) + "%",6}", lines);

        var json = await CommandLineTests.RunAsync([.. target, "--json"]);
        Assert.True(json.Code == 0, json.Error);
        using var status = JsonDocument.Parse(json.Output);
        Assert.Equal(accuracy, status.RootElement.GetProperty("accuracy").GetProperty("t0").GetDouble());
        Assert.Equal(JsonValueKind.Null, status.RootElement.GetProperty("progress").ValueKind);

        // A clean stop leaves "offline" retained (a crash leaves the same through the last will).
        await agent.StopAgentAsync();
        var offline = await CommandLineTests.RunAsync(target);
        Assert.True(offline.Code == 0, offline.Error);
        Assert.Contains("state          offline (the agent is not connected to the broker)", offline.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_redraws_on_every_change_from_training_to_idle_and_ctrl_c_exits_130()
    {
        await using var agent = await AgentHarness.StartAsync(epochs: 3);
        var lines = new ConcurrentQueue<string>();
        using var watch = Process.Start(AgentProcess.StartInfo(["status", "--watch", "--broker", $"{agent.BrokerHost}:{agent.BrokerPort}", "--device", agent.DeviceId]))!;
        watch.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
        watch.BeginOutputReadLine();
        var errors = watch.StandardError.ReadToEndAsync();
        try
        {
            await WaitAsync(() => lines.Contains("state          idle"), "the first table shows idle", lines);

            await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 600));
            await agent.WaitForAsync("model.deployed", "t0", Deadline);

            // The first table (idle, no model), then training (with its epoch once one has run), then idle with version 1.
            await WaitAsync(() => lines.Contains("version        1"), "a table shows version 1", lines);
            var seen = lines.ToList();
            int training = seen.FindIndex(l => l.StartsWith("state          training", StringComparison.Ordinal));
            Assert.True(training > 0, Describe(seen));
            Assert.Contains(seen, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^state +training: stage [12], epoch [1-3]/3$"));
            await WaitAsync(() => lines.Skip(training).Contains("state          idle"), "idle again after training", lines);

            // Ctrl-C: SIGINT, as the terminal sends it.
            using (var interrupt = Process.Start("kill", ["-INT", watch.Id.ToString(CultureInfo.InvariantCulture)])!)
            {
                await interrupt.WaitForExitAsync();
            }

            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await watch.WaitForExitAsync(exit.Token);
            Assert.Equal(ExitCodes.Cancelled, watch.ExitCode);
            Assert.Equal("became status: cancelled", (await errors).Trim());
        }
        finally
        {
            if (!watch.HasExited)
            {
                watch.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Status_over_http_shows_the_learned_version_with_the_token_and_refuses_without_it()
    {
        int port = TestBrokers.FreePort();
        const string Token = "status-token-of-this-test";
        await using var agent = await AgentHarness.StartAsync(extraArgs: [$"--HttpUrls=http://127.0.0.1:{port}", $"--HttpToken={Token}"]);
        await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 200));
        await agent.WaitForAsync("model.deployed", "t0", Deadline);
        await Eventually.ValueAsync(agent.ReadStatusAsync, s => s.GetProperty("state").GetString() == "idle", "the status became idle", Deadline);
        string url = $"http://127.0.0.1:{port}";

        var table = await CommandLineTests.RunAsync("status", "--http", url, "--token", Token);

        Assert.True(table.Code == 0, table.Error);
        string[] lines = table.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains($"device         {agent.DeviceId} ({url})", lines);
        Assert.Contains("state          idle", lines);
        Assert.Contains("version        1", lines);

        var refused = await CommandLineTests.RunAsync("status", "--http", url);
        Assert.Equal(ExitCodes.Failure, refused.Code);
        Assert.Equal($"became status: GET {url}/status answered HTTP 401 (the agent requires --token)", refused.Error.Trim());
    }

    [Fact]
    public async Task A_device_that_never_reported_is_one_line_after_the_timeout_and_exit_1()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance);
        var clock = Stopwatch.StartNew();

        var result = await CommandLineTests.RunAsync("status", "--broker", $"127.0.0.1:{broker.Port}", "--device", "no-such-device", "--timeout", "2");

        Assert.Equal(ExitCodes.Failure, result.Code);
        Assert.Equal(string.Empty, result.Output);
        string[] errors = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(errors);
        Assert.StartsWith("became status: no status from device 'no-such-device' on 127.0.0.1:", errors[0], StringComparison.Ordinal);
        Assert.Contains("within 2 s", errors[0], StringComparison.Ordinal);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2), $"answered after {clock.Elapsed}");
    }

    [Theory]
    [InlineData(new[] { "status" }, "--broker HOST:PORT with --device ID, or --http URL")]
    [InlineData(new[] { "status", "--broker", "127.0.0.1:1" }, "--broker needs --device ID")]
    [InlineData(new[] { "status", "--http", "http://127.0.0.1:1", "--broker", "127.0.0.1:1", "--device", "d" }, "one of them")]
    [InlineData(new[] { "status", "--http", "http://127.0.0.1:1", "--timeout", "0" }, "--timeout")]
    public async Task Target_mistakes_are_one_line_and_exit_2(string[] args, string fragment) =>
        BecameCommand.AssertUsageError(await CommandLineTests.RunAsync(args), fragment);

    [Fact]
    public void The_table_reads_an_older_agent_status_without_accuracy_or_progress()
    {
        var rows = StatusCommand.Rows("d1", "mqtt h:1", """{"state":"training","deployedVersion":2,"queueLength":3,"tasksLearned":2,"lastError":"t1: disk full","time":"2026-12-01T05:00:00+00:00"}"""u8, DateTimeOffset.Parse("2026-12-01T05:00:30+00:00", CultureInfo.InvariantCulture))!;

        Assert.Equal(
        [
            ("device", "d1 (mqtt h:1)"), ("state", "training"), ("version", "2"), ("tasks learned", "2"), ("queue", "3"),
            ("last error", "t1: disk full"), ("updated", "2026-12-01 05:00:00 UTC (30 s ago)"),
        ], rows);
        Assert.Null(StatusCommand.Rows("d1", "mqtt h:1", "not json"u8, DateTimeOffset.UnixEpoch));
    }

    private static string Describe(IEnumerable<string> lines) => "watch printed:\n" + string.Join('\n', lines);

    private static async Task WaitAsync(Func<bool> condition, string what, IEnumerable<string> lines)
    {
        try
        {
            await Eventually.TrueAsync(condition, what, Deadline);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\n{Describe(lines)}", e);
        }
    }
}
