using System.Text.RegularExpressions;

// Not ...Tests.Architecture: that namespace would shadow Became.Core's Architecture in other tests.
namespace Became.Agent.Tests.ArchitectureChecks;

/// <summary>Rules read from the source: the operator's tools in src/Became.Cli speak to devices through Became.Protocol
/// (only the <c>run</c> wiring names Became.Agent), and no source file grows past 400 lines.</summary>
public sealed partial class SourceRulesTests
{
    /// <summary>The files of src/Became.Cli that wire up <c>became run</c> (AgentCommandLine, from Became.Agent).</summary>
    private static readonly string[] RunCommandFiles = ["BecameCli.cs"];

    private const int MaxLines = 400;

    [Fact]
    public void Only_the_run_command_files_of_the_cli_use_the_agent()
    {
        string cli = Path.Combine(ToolProcess.RepositoryRoot, "src", "Became.Cli");
        var users = Sources(cli)
            .Where(f => AgentName().IsMatch(Comment().Replace(File.ReadAllText(f), string.Empty)))
            .Select(f => Path.GetRelativePath(cli, f))
            .ToList();

        Assert.True(users.All(RunCommandFiles.Contains), $"only {string.Join(", ", RunCommandFiles)} may use Became.Agent; also: {string.Join(", ", users.Except(RunCommandFiles))}");
        Assert.NotEmpty(users);
    }

    [Fact]
    public void No_source_file_is_over_400_lines()
    {
        string src = Path.Combine(ToolProcess.RepositoryRoot, "src");
        var long_ = Sources(src).Select(f => (File: Path.GetRelativePath(src, f), Lines: File.ReadLines(f).Count()))
            .Where(f => f.Lines > MaxLines).Select(f => $"{f.File} ({f.Lines})").ToList();

        Assert.True(long_.Count == 0, $"over {MaxLines} lines: {string.Join(", ", long_)}");
    }

    private static IEnumerable<string> Sources(string root) =>
        Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"));

    [GeneratedRegex(@"(?<![\w.])Became\.Agent\b")]
    private static partial Regex AgentName();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comment();
}
