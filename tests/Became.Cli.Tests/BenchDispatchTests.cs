using Became.Cli;

namespace Became.Cli.Tests;

/// <summary>`became bench` runs the separate became-bench program (git-style) and says so in one line where the
/// installation (the device image) leaves it out.</summary>
public sealed class BenchDispatchTests : IDisposable
{
    private readonly string _empty = Directory.CreateTempSubdirectory("became-no-bench-").FullName;

    [Fact]
    public async Task Bench_is_one_line_and_exit_2_where_became_bench_is_not_installed()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await BenchDispatch.RunAsync(["--seeds", "0"], output, error, _empty, CancellationToken.None);

        BecameCommand.AssertUsageError((code, output.ToString(), error.ToString()), "not part of this installation", "./bench.sh");
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public async Task Became_help_still_lists_bench()
    {
        var (code, output, _) = await CommandLineTests.RunAsync("--help");
        Assert.Equal(0, code);
        Assert.Contains("  bench ", output, StringComparison.Ordinal);
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public async Task The_real_became_runs_became_bench_beside_it_and_returns_its_exit_code()
    {
        // `dotnet became.dll bench ...`: became-bench.dll on the same dotnet host; its output and exit code come back.
        var version = await BecameCommand.RunProcessAsync(["bench", "--version"]);
        Assert.True(version.Code == 0, $"exit {version.Code}\n{version.Error}");
        Assert.Matches(@"^became-bench \S+ \(libtorch backend: (cpu|cuda|l4t)\)", version.Output);

        var typo = await BecameCommand.RunProcessAsync(["bench", "--seed", "0"]);
        BecameCommand.AssertUsageError(typo, "became bench: unknown option '--seed'", "'--seeds'");
    }

    public void Dispose() => Directory.Delete(_empty, recursive: true);
}
