using System.CommandLine;
using System.ComponentModel;
using System.Diagnostics;

namespace Became.Cli;

/// <summary>
/// <c>became bench ARGS</c>, git-style: runs the <c>became-bench</c> program found beside <c>became</c> with ARGS and
/// returns its exit code. The benchmark (and its SkiaSharp plot) is a separate program so that the device image,
/// which publishes only <c>became</c>, leaves it out.
/// </summary>
public static class BenchDispatch
{
    public const string CommandName = "bench";

    /// <summary>The program's name: <c>became-bench</c> (apphost) and <c>became-bench.dll</c>.</summary>
    public const string ProgramName = "became-bench";

    /// <summary>The line (and exit 2) where the installation has no became-bench.</summary>
    public const string Missing = "became bench: `became bench` is not part of this installation (the device image leaves it out); from a source checkout run ./bench.sh";

    /// <summary>The <c>bench</c> entry of <c>became --help</c>; never invoked (<see cref="BecameCli.RunAsync"/> hands
    /// <c>bench</c> and everything after it to became-bench before parsing).</summary>
    internal static Command CreateListing()
    {
        var command = new Command(CommandName, "offline benchmark of the methods on split-fmnist or permuted-fmnist: accuracy table, JSON report and plot (the became-bench program; `became bench --help` for its options)");
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parsed, cancellationToken) =>
            RunAsync([.. parsed.UnmatchedTokens], parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    /// <summary>Runs became-bench with <paramref name="args"/>, its outputs copied to <paramref name="output"/> and
    /// <paramref name="error"/>; its exit code, or 2 with one line when it is not installed.</summary>
    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        RunAsync(args, output, error, AppContext.BaseDirectory, cancellationToken);

    /// <summary>As <see cref="RunAsync(IReadOnlyList{string}, TextWriter, TextWriter, CancellationToken)"/>, looking for
    /// became-bench in <paramref name="folder"/>.</summary>
    internal static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, string folder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        // On the console became-bench writes there itself (its progress line needs a terminal); otherwise its
        // outputs are copied into the given writers.
        bool console = ReferenceEquals(output, Console.Out) && ReferenceEquals(error, Console.Error);
        if (StartInfo(args, folder, redirect: !console) is not { } start)
        {
            await error.WriteLineAsync(Missing).ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new Win32Exception("no process");
        }
        catch (Win32Exception e)
        {
            await error.WriteLineAsync($"became bench: cannot start {start.FileName} ({e.Message})").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        using (process)
        {
            var copyOutput = console ? Task.CompletedTask : CopyAsync(process.StandardOutput, output);
            var copyError = console ? Task.CompletedTask : CopyAsync(process.StandardError, error);
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C reaches became-bench too (same process group); this only makes sure it does not outlive us.
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                await Task.WhenAll(copyOutput, copyError).ConfigureAwait(false);
                await error.WriteLineAsync("became bench: cancelled").ConfigureAwait(false);
                return ExitCodes.Cancelled;
            }

            await Task.WhenAll(copyOutput, copyError).ConfigureAwait(false);
            return process.ExitCode;
        }
    }

    /// <summary>How to start became-bench from <paramref name="folder"/> (the folder of became.dll), or null when it is
    /// not there: its apphost when became itself runs as an apphost, otherwise <c>became-bench.dll</c> on the same
    /// dotnet host as became.</summary>
    internal static ProcessStartInfo? StartInfo(IReadOnlyList<string> args, string folder, bool redirect)
    {
        string dll = Path.Combine(folder, ProgramName + ".dll");
        if (!File.Exists(dll))
        {
            return null;
        }

        string? self = Environment.ProcessPath;
        string apphost = Path.Combine(folder, ProgramName);
        bool runningAsApphost = self is not null && Path.GetFileNameWithoutExtension(self) == "became";
        ProcessStartInfo start;
        if (runningAsApphost && File.Exists(apphost))
        {
            start = new ProcessStartInfo(apphost);
        }
        else
        {
            // `dotnet became.dll`, `dotnet run` or a test host: the dotnet host that runs us, so the runtime is the same.
            string host = self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet"
                ? self
                : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } given ? given : "dotnet";
            start = new ProcessStartInfo(host);
            start.ArgumentList.Add(dll);
        }

        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.UseShellExecute = false;
        start.RedirectStandardOutput = redirect;
        start.RedirectStandardError = redirect;
        return start;
    }

    // Chunks, not lines: the benchmark's progress line is rewritten in place with \r and no newline.
    private static async Task CopyAsync(StreamReader from, TextWriter to)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await from.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
            await to.FlushAsync().ConfigureAwait(false);
        }
    }
}
