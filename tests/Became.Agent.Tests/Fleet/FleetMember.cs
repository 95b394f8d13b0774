using System.Collections.Concurrent;
using System.Diagnostics;

namespace Became.Agent.Tests.Fleet;

/// <summary>One real <c>became run</c> child process of a fleet: small settings (one epoch, one thread, a frugal GC),
/// one group, on a broker it does not own; killable with SIGKILL and restartable on its data folder.</summary>
internal sealed class FleetMember : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    public FleetMember(string deviceId, int brokerPort, string group)
    {
        DeviceId = deviceId;
        BrokerPort = brokerPort;
        Group = group;
        DataDirectory = Directory.CreateTempSubdirectory($"became-{deviceId}-").FullName;
        PauseMarker = Path.Combine(DataDirectory, "..", $"became-{deviceId}-{Guid.NewGuid():N}.paused");
    }

    public string DeviceId { get; }

    public int BrokerPort { get; }

    public string Group { get; }

    public string DataDirectory { get; }

    /// <summary>Written by the agent when it reaches its BECAME_TEST_PAUSE_AT point.</summary>
    public string PauseMarker { get; }

    public string Output => string.Join('\n', _output.TakeLast(200));

    public bool Running => _process is { HasExited: false };

    /// <summary>Starts the agent (it is up once its live status is seen; the caller watches for that).</summary>
    /// <param name="pauseAt">BECAME_TEST_PAUSE_AT, e.g. "stage2:fleet-1", to hold the agent mid-task.</param>
    public void Start(string? pauseAt = null)
    {
        var start = AgentProcess.StartInfo(
        [
            "run",
            $"--DeviceId={DeviceId}",
            $"--DataDirectory={DataDirectory}",
            "--Broker:Host=127.0.0.1",
            $"--Broker:Port={BrokerPort}",
            $"--Groups:0={Group}",
            "--Training:Epochs=1",
            "--Training:Threads=1",
            "--Training:MemorySamples=100",
            "--ShutdownSeconds=10",

            // Tiny tasks learned in one epoch: the deployment gate's verdict would be noise here, not the fleet's behaviour.
            "--Gate:Enabled=false",
        ], new Dictionary<string, string>
        {
            // A fleet of small devices: workstation GC, and the GC giving memory back eagerly.
            ["DOTNET_gcServer"] = "0",
            ["DOTNET_GCConserveMemory"] = "7",
            ["DOTNET_TieredPGO"] = "0",
        }, pauseAt is null ? "became.dll" : AgentProcess.TestAgent);
        start.Environment.Remove("BECAME_TEST_PAUSE_AT");
        start.Environment.Remove("BECAME_TEST_PAUSE_MARKER");
        if (pauseAt is not null)
        {
            start.Environment["BECAME_TEST_PAUSE_AT"] = pauseAt;
            start.Environment["BECAME_TEST_PAUSE_MARKER"] = PauseMarker;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("became did not start");
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    /// <summary>kill -9: no shutdown code, no offline status (the broker publishes the last will).</summary>
    public async Task KillAsync()
    {
        var process = _process ?? throw new InvalidOperationException($"{DeviceId} is not running.");
        _process = null;
        process.Kill(entireProcessTree: false);
        await process.WaitForExitAsync();
        process.Dispose();
        File.Delete(PauseMarker);
    }

    /// <summary>The process's resident set (VmRSS) and its peak (VmHWM), in bytes.</summary>
    public (long Rss, long Peak) Memory()
    {
        int pid = _process?.Id ?? throw new InvalidOperationException($"{DeviceId} is not running.");
        return (ChildAgent.ProcStatusBytes(pid, "VmRSS:"), ChildAgent.ProcStatusBytes(pid, "VmHWM:"));
    }

    public async ValueTask DisposeAsync()
    {
        await ChildAgent.EndAsync(_process);
        _process = null;
        File.Delete(PauseMarker);
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 2000 && _output.TryDequeue(out _))
        {
        }
    }
}
