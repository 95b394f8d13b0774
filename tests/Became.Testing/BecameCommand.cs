namespace Became.Testing;

/// <summary>Runs `became` as a child process and checks the one-line usage errors it answers a user's mistake with.</summary>
internal static class BecameCommand
{
    /// <summary>Exit 2 with exactly one line on stderr that contains every fragment, and no stack trace.</summary>
    internal static void AssertUsageError((int Code, string Output, string Error) result, params string[] fragments) =>
        AssertOneLineError(result, 2, fragments);

    /// <summary>Exit <paramref name="code"/> with exactly one line on stderr that contains every fragment, and no stack trace.</summary>
    internal static void AssertOneLineError((int Code, string Output, string Error) result, int code, params string[] fragments)
    {
        Assert.True(result.Code == code, $"exit {result.Code}\n{result.Output}\n{result.Error}");
        string[] lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{result.Error}");
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        foreach (string fragment in fragments)
        {
            Assert.Contains(fragment, lines[0], StringComparison.Ordinal);
        }
    }

    /// <summary>Runs the real `became` process to its exit (it should exit at once: within 60 s, or <paramref name="timeout"/>).</summary>
    internal static async Task<(int Code, string Output, string Error)> RunProcessAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        using var process = System.Diagnostics.Process.Start(AgentProcess.StartInfo(args, environment))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"became {string.Join(' ', args)} still ran after {limit.TotalSeconds:0} s (it should have exited by then):\n{await output}\n{await error}");
        }

        return (process.ExitCode, await output, await error);
    }
}
