using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Became.Testing;

/// <summary>The real `became run` as a child process, for what only a process shows: exit codes, signals, systemd's
/// socket. Its output is read continuously (a full pipe would block the agent) and kept for the test to search.</summary>
public sealed class AgentProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentQueue<string> _errors = new();

    private AgentProcess(Process process)
    {
        Process = process;
    }

    public Process Process { get; }

    public string Errors => string.Join(Environment.NewLine, _errors);

    /// <summary>The standard-output lines so far.</summary>
    public IReadOnlyList<string> Lines => _output.ToArray();

    /// <summary>Starts `dotnet became.dll run --data-dir DATA --embedded-port 0 ARGS` with extra environment variables.</summary>
    public static AgentProcess Start(string dataDirectory, IReadOnlyDictionary<string, string>? environment = null, params string[] args)
    {
        var start = StartInfo(["run", "--data-dir", dataDirectory, "--embedded-port", "0", .. args], environment);
        var process = new Process { StartInfo = start };
        var agent = new AgentProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) agent._output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) agent._errors.Enqueue(e.Data); };
        if (!process.Start())
        {
            throw new InvalidOperationException("became did not start");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return agent;
    }

    /// <summary>The agent with the crash tests' pause point (BECAME_TEST_PAUSE_AT), which `became` itself does not have.</summary>
    public const string TestAgent = "became-test-agent.dll";

    /// <summary>`dotnet became.dll ARGS` (or another <paramref name="program"/> beside the tests, e.g. <see cref="TestAgent"/>)
    /// with both outputs redirected and the extra environment variables.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string program = "became.dll")
    {
        // `dotnet became.dll`: the same runtime the tests run on, whatever DOTNET_ROOT the apphost would need.
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (string arg in args.Prepend(Path.Combine(AppContext.BaseDirectory, program)))
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        return start;
    }

    /// <summary>Sends SIGTERM, as systemd and docker stop do (Process.Kill sends SIGKILL).</summary>
    public async Task TerminateAsync()
    {
        using var kill = Process.Start("kill", ["-TERM", Process.Id.ToString(CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
    }

    /// <summary>Waits for the process to end and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await Process.WaitForExitAsync(cts.Token);
        return Process.ExitCode;
    }

    /// <summary>The first standard-output line containing <paramref name="text"/>, or null if none came in time.</summary>
    public async Task<string?> LineContainingAsync(string text, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_output.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is string line)
            {
                return line;
            }

            if (Process.HasExited)
            {
                // Output may still be draining after exit; one more look below.
                await Process.WaitForExitAsync();
                return _output.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            }

            await Task.Delay(50);
        }

        return null;
    }

    /// <summary>Kills the process if it still runs.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }

        await Process.WaitForExitAsync();
        Process.Dispose();
    }
}
