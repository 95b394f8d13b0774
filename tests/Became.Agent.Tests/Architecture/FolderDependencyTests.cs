using System.Text.RegularExpressions;
using Xunit.Abstractions;

// Not ...Tests.Architecture: that namespace would shadow Became.Core's Architecture in other tests.
namespace Became.Agent.Tests.ArchitectureChecks;

/// <summary>
/// The dependency graph between the folders of src/Became.Agent, read from the source: <c>using Became.Agent.X</c>
/// directives and qualified references (<c>Became.Agent.X.Type</c> or <c>X.Type</c>). Serving and Messaging never
/// reach Jobs, Deployment never reaches Jobs either, Observability reaches neither Jobs nor Serving, Protocol reaches no other folder, and no folders form a cycle.
/// </summary>
public sealed partial class FolderDependencyTests(ITestOutputHelper output)
{
    // Every folder of the device service is in the graph (the operator's tools and the bench left for their own projects).
    private static readonly HashSet<string> Leaving = new(StringComparer.Ordinal);

    private static readonly (string From, string To)[] Forbidden =
    [
        ("Serving", "Jobs"),
        ("Messaging", "Jobs"),
        ("Deployment", "Jobs"),
        ("Deployment", "Messaging"),
        ("Deployment", "Serving"),

        // Metrics read the agent (events, status, store, connection) and are fed by Serving and Jobs, never the reverse.
        ("Observability", "Jobs"),
        ("Observability", "Serving"),
    ];

    [Fact]
    public void Agent_folders_form_no_cycle_and_keep_the_forbidden_edges_out()
    {
        var graph = FolderGraph.Read(Path.Combine(ToolProcess.RepositoryRoot, "src", "Became.Agent"), Leaving);
        output.WriteLine(FolderGraph.Describe(graph));

        var forbidden = Forbidden.Where(f => graph.TryGetValue(f.From, out var to) && to.ContainsKey(f.To))
            .Select(f => $"{f.From} -> {f.To} ({string.Join(", ", graph[f.From][f.To])})").ToList();
        forbidden.AddRange(graph.Where(g => g.Key == "Protocol" && g.Value.Count > 0)
            .Select(g => $"Protocol -> {string.Join(", ", g.Value.Keys)} (Protocol depends on no other folder)"));
        Assert.True(forbidden.Count == 0, "forbidden dependencies: " + string.Join("; ", forbidden));

        var cycle = FolderGraph.FindCycle(graph);
        Assert.True(cycle is null, "folders form a cycle: " + string.Join(" -> ", cycle ?? []));
    }

    [Fact]
    public void The_check_sees_a_forbidden_reference_and_a_cycle()
    {
        // The reader itself, on sources written here: a Serving file that names a Jobs type, and Jobs naming Serving back.
        string root = Directory.CreateTempSubdirectory("became-arch-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "Serving"));
            Directory.CreateDirectory(Path.Combine(root, "Jobs"));
            File.WriteAllText(Path.Combine(root, "Serving", "A.cs"), "namespace Became.Agent.Serving;\n// Jobs.Nothing in a comment\nclass A { object B => \"Jobs.Text\"; object C => Jobs.TrainingWorker.X; }\n");
            File.WriteAllText(Path.Combine(root, "Jobs", "B.cs"), "using Became.Agent.Serving;\nnamespace Became.Agent.Jobs;\nclass B { }\n");
            var graph = FolderGraph.Read(root, Leaving);

            Assert.Equal(["A.cs"], graph["Serving"]["Jobs"]);
            Assert.Equal(["Jobs", "Serving", "Jobs"], FolderGraph.FindCycle(graph));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}

/// <summary>Reads which Agent folders each folder's source files name, and finds cycles among them.</summary>
internal static partial class FolderGraph
{
    /// <summary>folder -> folder it uses -> the files that use it.</summary>
    public static SortedDictionary<string, SortedDictionary<string, SortedSet<string>>> Read(string agentRoot, IReadOnlySet<string> skip)
    {
        var folders = Directory.GetDirectories(agentRoot).Select(Path.GetFileName).OfType<string>()
            .Where(f => f is not ("bin" or "obj") && !skip.Contains(f)).ToHashSet(StringComparer.Ordinal);
        var graph = new SortedDictionary<string, SortedDictionary<string, SortedSet<string>>>(StringComparer.Ordinal);
        foreach (string folder in folders)
        {
            var uses = graph[folder] = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
            foreach (string file in Directory.EnumerateFiles(Path.Combine(agentRoot, folder), "*.cs", SearchOption.AllDirectories))
            {
                string code = Comment().Replace(StringLiteral().Replace(File.ReadAllText(file), "\"\""), string.Empty);
                var named = Qualified().Matches(code).Select(m => m.Groups[1].Value)
                    .Concat(Relative().Matches(code).Select(m => m.Groups[1].Value));
                foreach (string used in named.Where(u => u != folder && folders.Contains(u)))
                {
                    if (!uses.TryGetValue(used, out var files))
                    {
                        uses[used] = files = new SortedSet<string>(StringComparer.Ordinal);
                    }

                    files.Add(Path.GetFileName(file));
                }
            }
        }

        return graph;
    }

    /// <summary>A cycle as the folders along it (first = last), or null when the graph has none.</summary>
    public static IReadOnlyList<string>? FindCycle(SortedDictionary<string, SortedDictionary<string, SortedSet<string>>> graph)
    {
        var done = new HashSet<string>(StringComparer.Ordinal);
        var path = new List<string>();
        foreach (string start in graph.Keys)
        {
            if (Visit(start) is { } cycle)
            {
                return cycle;
            }
        }

        return null;

        IReadOnlyList<string>? Visit(string folder)
        {
            int at = path.IndexOf(folder);
            if (at >= 0)
            {
                return [.. path.Skip(at), folder];
            }

            if (!done.Add(folder))
            {
                return null;
            }

            path.Add(folder);
            foreach (string next in graph.TryGetValue(folder, out var uses) ? uses.Keys : Enumerable.Empty<string>())
            {
                if (Visit(next) is { } cycle)
                {
                    return cycle;
                }
            }

            path.RemoveAt(path.Count - 1);
            return null;
        }
    }

    public static string Describe(SortedDictionary<string, SortedDictionary<string, SortedSet<string>>> graph) =>
        string.Join(Environment.NewLine, graph.Select(g => $"{g.Key} -> {(g.Value.Count == 0 ? "(none)" : string.Join(", ", g.Value.Keys))}"));

    [GeneratedRegex(@"(?<![\w.])Became\.Agent\.(\w+)")]
    private static partial Regex Qualified();

    [GeneratedRegex(@"(?<![\w.""])([A-Z]\w*)\.[A-Z]\w*")]
    private static partial Regex Relative();

    [GeneratedRegex(@"@?\$?""(?:\\.|""""|[^""\\\n])*""")]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comment();
}
