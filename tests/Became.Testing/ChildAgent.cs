using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Became.Agent.Hosting;
using Became.Agent.Storage;
using Became.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Testing;

/// <summary>
/// The real <c>became run</c> as a child process (so it can be killed with SIGKILL), on a real mosquitto broker, with an
/// MQTT observer of its events and status that stays connected while the agent is killed and started again.
/// </summary>
internal sealed class ChildAgent : IAsyncDisposable
{
    private const int Sigterm = 15;
    private readonly ITestBroker _broker;
    private readonly IMqttClient _observer = new MqttClientFactory().CreateMqttClient();
    private readonly ConcurrentQueue<JsonElement> _events = new();
    private readonly ConcurrentQueue<(DateTime Received, JsonElement Status)> _statuses = new();
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    private ChildAgent(ITestBroker broker, string? dataDirectory)
    {
        _broker = broker;
        DataDirectory = dataDirectory ?? Directory.CreateTempSubdirectory("became-child-").FullName;
        DeviceId = "child" + Guid.NewGuid().ToString("N")[..8];
        PauseMarker = Path.Combine(Path.GetTempPath(), $"became-{DeviceId}.paused");
    }

    public string DataDirectory { get; }

    /// <summary>The port of the mosquitto broker the agent uses.</summary>
    public int BrokerPort => _broker.Port;

    public string DeviceId { get; }

    /// <summary>The file the agent writes when it reaches its test pause point (BECAME_TEST_PAUSE_MARKER).</summary>
    public string PauseMarker { get; }

    public IReadOnlyList<JsonElement> Events => _events.ToArray();

    /// <summary>The agent's console output so far (for failure messages and measured figures).</summary>
    public string Output => string.Join('\n', _output);

    public int? ProcessId => _process?.Id;

    /// <summary>Extra environment variables for the next <see cref="StartAsync"/> (e.g. NOTIFY_SOCKET).</summary>
    public Dictionary<string, string> Environment { get; } = [];

    /// <summary>The built agent beside the tests (the test project references it, so became.dll and its runtime files are copied here).</summary>
    public static string AgentDll => Path.Combine(AppContext.BaseDirectory, "became.dll");

    /// <summary>Starts a mosquitto broker and the observer; the agent itself starts with <see cref="StartAsync"/>.</summary>
    /// <param name="dataDirectory">The agent's data folder (deleted at the end); a new temporary one when null.</param>
    public static async Task<ChildAgent> CreateAsync(string? dataDirectory = null)
    {
        var child = new ChildAgent(await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance), dataDirectory);
        await child.ObserveAsync();
        return child;
    }

    /// <summary>Starts <c>became run</c> on the data folder and waits until it is subscribed (its live status arrives).</summary>
    /// <param name="pauseAt">BECAME_TEST_PAUSE_AT for this run, e.g. "stage1:t1"; null for none.</param>
    /// <param name="args">Extra settings, e.g. --Limits:MaxQueuedTasks=5.</param>
    public async Task StartAsync(string? pauseAt = null, params string[] args)
    {
        Assert.True(File.Exists(AgentDll), $"{AgentDll} is missing; build the solution first.");
        var start = AgentProcess.StartInfo(
        [
            "run",
            $"--DeviceId={DeviceId}",
            $"--DataDirectory={DataDirectory}",
            "--Broker:Host=127.0.0.1",
            $"--Broker:Port={_broker.Port}",
            "--Training:Epochs=2",
            "--Training:Threads=1",
            "--ShutdownSeconds=10",
            .. args,
        ], program: pauseAt is null ? "became.dll" : AgentProcess.TestAgent);
        start.Environment.Remove("BECAME_TEST_PAUSE_AT");
        start.Environment.Remove("BECAME_TEST_PAUSE_MARKER");
        if (pauseAt is not null)
        {
            start.Environment["BECAME_TEST_PAUSE_AT"] = pauseAt;
            start.Environment["BECAME_TEST_PAUSE_MARKER"] = PauseMarker;
        }

        foreach (var (key, value) in Environment)
        {
            start.Environment[key] = value;
        }

        var started = DateTime.UtcNow;
        var process = Process.Start(start) ?? throw new InvalidOperationException("became did not start");
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        await WaitForStatusAsync(s => s.GetProperty("state").GetString() != "offline", TimeSpan.FromSeconds(60), "a live status", after: started);
    }

    /// <summary>kill -9: no shutdown code runs, nothing is flushed.</summary>
    public async Task KillAsync()
    {
        var process = _process ?? throw new InvalidOperationException("The agent is not running.");
        _process = null;
        process.Kill(entireProcessTree: false);
        await process.WaitForExitAsync();
        process.Dispose();
    }

    /// <summary>SIGTERM and wait: a clean stop.</summary>
    public async Task StopAsync()
    {
        var process = _process ?? throw new InvalidOperationException("The agent is not running.");
        _process = null;
        _ = Kill(process.Id, Sigterm);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        process.Dispose();
    }

    /// <summary>The process's peak resident set size so far (VmHWM), in bytes.</summary>
    public long PeakRssBytes() => ProcStatusBytes("VmHWM:");

    /// <summary>The process's resident set size now (VmRSS), in bytes.</summary>
    public long RssBytes() => ProcStatusBytes("VmRSS:");

    private long ProcStatusBytes(string field) =>
        ProcStatusBytes(_process?.Id ?? throw new InvalidOperationException("The agent is not running."), field);

    /// <summary>A size field of /proc/{pid}/status (VmRSS:, VmHWM:), in bytes.</summary>
    internal static long ProcStatusBytes(int pid, string field)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Kills a child process that is still running, waits for it, and disposes it (null: nothing to do).</summary>
    internal static async Task EndAsync(Process? process)
    {
        if (process is null)
        {
            return;
        }

        if (!process.HasExited)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }

    /// <summary>Waits until the agent reports that it reached its pause point.</summary>
    public Task WaitForPauseAsync(TimeSpan timeout) =>
        Until(() => File.Exists(PauseMarker), timeout, $"the pause marker {PauseMarker}");

    /// <summary>Lets a paused agent continue.</summary>
    public void Release() => File.Delete(PauseMarker);

    /// <summary>Opens the agent's LiteDB and blobs the way a restart would (only while the agent is not running).</summary>
    public AgentStore OpenStore()
    {
        Assert.Null(_process);
        return new AgentStore(DataDirectory);
    }

    public Task PublishAsync(params (string TaskId, byte[] Payload)[] tasks) =>
        TaskPublisher.PublishAsync("127.0.0.1", _broker.Port, "became", DeviceId, tasks, TextWriter.Null, CancellationToken.None);

    public async Task<JsonElement> WaitForEventAsync(Func<JsonElement, bool> match, TimeSpan timeout, string what)
    {
        await Until(() => _events.Any(match), timeout, what);
        return _events.First(match);
    }

    public Task<JsonElement> WaitForAsync(string type, string? taskId, TimeSpan timeout) =>
        WaitForEventAsync(e => Type(e) == type && (taskId is null || e.GetProperty("taskId").GetString() == taskId), timeout, $"{type} for {taskId}");

    /// <summary>Waits for a status message (received after <paramref name="after"/>, if given) that matches.</summary>
    public async Task<JsonElement> WaitForStatusAsync(Func<JsonElement, bool> match, TimeSpan timeout, string what, DateTime? after = null)
    {
        bool Matches((DateTime Received, JsonElement Status) s) => s.Received >= (after ?? DateTime.MinValue) && match(s.Status);
        await Until(() => _statuses.Any(Matches), timeout, what);
        return _statuses.Last(Matches).Status;
    }

    public static string Type(JsonElement e) => e.GetProperty("type").GetString()!;

    public async ValueTask DisposeAsync()
    {
        await EndAsync(_process);
        _process = null;
        if (_observer.IsConnected)
        {
            await _observer.DisconnectAsync();
        }

        _observer.Dispose();
        await _broker.DisposeAsync();
        File.Delete(PauseMarker);
        Directory.Delete(DataDirectory, recursive: true);
    }

    private async Task Until(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (_process is { HasExited: true } exited)
            {
                throw new InvalidOperationException($"The agent exited ({exited.ExitCode}) while waiting for {what}. Output:\n{Output}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No {what} within {timeout.TotalSeconds} s. Events: {string.Join(" | ", _events.Select(e => e.GetRawText()))}\nOutput:\n{Output}");
            }

            await Task.Delay(50);
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 3000 && _output.TryDequeue(out _))
        {
        }
    }

    private async Task ObserveAsync()
    {
        string eventsTopic = $"became/{DeviceId}/events", statusTopic = $"became/{DeviceId}/status";
        _observer.ApplicationMessageReceivedAsync += e =>
        {
            var json = JsonDocument.Parse(e.ApplicationMessage.ConvertPayloadToString()).RootElement.Clone();
            if (e.ApplicationMessage.Topic == statusTopic)
            {
                _statuses.Enqueue((DateTime.UtcNow, json));
            }
            else
            {
                _events.Enqueue(json);
            }

            return Task.CompletedTask;
        };
        await _observer.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", _broker.Port).WithProtocolVersion(MqttProtocolVersion.V500).WithClientId("observer-" + Guid.NewGuid().ToString("N")).Build());
        await _observer.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(eventsTopic, MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter(statusTopic, MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
