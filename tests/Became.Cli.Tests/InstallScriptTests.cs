namespace Became.Cli.Tests;

/// <summary><c>scripts/install.sh</c>: a publish of <c>became</c> into PREFIX/share/became and a link PREFIX/bin/became
/// that runs from anywhere; running it again gives the same result.</summary>
[Trait("Speed", "Slow")]
public sealed class InstallScriptTests : IDisposable
{
    private static readonly TimeSpan Publish = TimeSpan.FromMinutes(15);
    private readonly string _prefix = Directory.CreateTempSubdirectory("became-install-").FullName;

    [Fact]
    public async Task Install_into_a_prefix_links_a_working_became_and_is_idempotent()
    {
        string script = Path.Combine(ToolProcess.RepositoryRoot, "scripts", "install.sh");
        string link = Path.Combine(_prefix, "bin", "became");

        var first = await ToolProcess.RunAsync("bash", [script, "--prefix", _prefix], Publish);
        Assert.True(first.ExitCode == 0, first.Describe());
        Assert.Contains($"installed", first.Output, StringComparison.Ordinal);
        Assert.Contains($"linked {link} -> {Path.Combine(_prefix, "share", "became", "became")}", first.Output, StringComparison.Ordinal);
        Assert.Equal(Path.Combine(_prefix, "share", "became", "became"), new FileInfo(link).LinkTarget);

        // The link, run from elsewhere, finds its app folder (the apphost resolves its own path through the link).
        var version = await ToolProcess.RunAsync(link, ["--version"], TimeSpan.FromMinutes(1));
        Assert.True(version.ExitCode == 0, version.Describe());
        Assert.Matches(@"^became \S+ \(libtorch backend: cpu\)", version.Output);

        var again = await ToolProcess.RunAsync("bash", [script, "--prefix", _prefix], Publish);
        Assert.True(again.ExitCode == 0, again.Describe());
        Assert.Single(Directory.GetFileSystemEntries(Path.Combine(_prefix, "bin")));
        Assert.Equal(["became"], Directory.GetDirectories(Path.Combine(_prefix, "share")).Select(Path.GetFileName));
        Assert.Equal(0, (await ToolProcess.RunAsync(link, ["--version"], TimeSpan.FromMinutes(1))).ExitCode);
    }

    [Fact]
    public async Task A_mistake_in_the_arguments_stops_before_anything_is_built_or_touched()
    {
        string bin = Directory.CreateDirectory(Path.Combine(_prefix, "bin")).FullName;
        File.WriteAllText(Path.Combine(bin, "became"), "someone else's");

        var result = await ToolProcess.RunAsync("bash", [Path.Combine(ToolProcess.RepositoryRoot, "scripts", "install.sh"), "--prefix", _prefix, "--no-such-flag"], TimeSpan.FromMinutes(1));

        // A mistake in the arguments stops before anything is built or touched.
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown argument '--no-such-flag'", result.Error, StringComparison.Ordinal);
        Assert.Equal("someone else's", File.ReadAllText(Path.Combine(bin, "became")));
    }

    public void Dispose() => Directory.Delete(_prefix, recursive: true);
}
