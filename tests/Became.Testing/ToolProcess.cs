using System.ComponentModel;
using System.Diagnostics;

namespace Became.Testing;

/// <summary>What a finished child process left: its exit code and both output streams.</summary>
public sealed record ToolResult(int ExitCode, string Output, string Error)
{
    public string Describe() => $"exit {ExitCode}\n{Output}\n{Error}".Trim();
}

/// <summary>Runs a command-line tool to completion (python3, systemd-analyze, docker-compose, dockerfilelint) from the repository root.</summary>
public static class ToolProcess
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>Runs <paramref name="file"/>; a tool that cannot be started fails the test with the set-up hint.</summary>
    public static async Task<ToolResult> RunAsync(string file, IEnumerable<string> arguments, TimeSpan timeout, IReadOnlyDictionary<string, string?>? environment = null, string? setupHint = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepositoryRoot,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[key] = value;
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"'{file}' cannot be started ({e.Message}). {setupHint ?? "Run scripts/setup.sh."}", e);
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{file} {string.Join(' ', start.ArgumentList)} did not finish within {timeout.TotalSeconds} s.");
            }

            return new ToolResult(process.ExitCode, await output, await error);
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Became.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No Became.sln above {AppContext.BaseDirectory}.");
    }
}
