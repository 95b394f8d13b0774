using System.Reflection;
using System.Text.Json;
using System.Xml.Linq;

// Not ...Tests.Architecture: that namespace would shadow Became.Core.Models.Architecture in the tests.
namespace Became.Agent.Tests.ArchitectureRules;

/// <summary>
/// Which project may depend on what: Core is the algorithm (no messaging, storage or hosting); the Agent is the device
/// service and the `became` CLI its executable (neither carries the benchmark or SkiaSharp, so the device image stays
/// lean); the benchmark needs none of the agent's MQTT, LiteDB or ASP.NET. Checked three ways: the project files (with
/// their project references, transitively), the built assemblies' references, and the executables' deps.json.
/// </summary>
public sealed class ProjectDependencyTests
{
    private static readonly string[] Messaging = ["MQTTnet", "LiteDB", "Microsoft.Extensions.Hosting", "Microsoft.AspNetCore"];

    /// <summary>Project (folder under src), its assembly name, and the names (prefixes) it must not reach.</summary>
    public static TheoryData<string, string, string[]> Rules => new()
    {
        { "Became.Core", "Became.Core", [.. Messaging, "System.CommandLine", "Became.CommandLine", "Became.Agent", "became", "became-bench"] },
        { "Became.CommandLine", "Became.CommandLine", [.. Messaging, "SkiaSharp", "TorchSharp", "Became.Core", "Became.Agent", "became", "became-bench"] },
        { "Became.Protocol", "Became.Protocol", ["Became.Agent", "LiteDB", "Microsoft.Extensions.Hosting", "Microsoft.AspNetCore", "OpenTelemetry", "SkiaSharp", "became", "became-bench"] },
        { "Became.Agent", "Became.Agent", ["SkiaSharp", "Became.Bench", "became-bench", "became"] },
        { "Became.Cli", "became", ["SkiaSharp", "Became.Bench", "became-bench"] },
        { "Became.Bench", "became-bench", [.. Messaging, "Became.Agent", "Became.Cli", "became"] },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void Project_files_reference_nothing_forbidden(string project, string assembly, string[] forbidden)
    {
        _ = assembly;
        var found = ProjectClosure(project).Where(r => IsForbidden(r.Name, forbidden)).Select(r => $"{r.Name} (in {r.Project})").ToList();
        Assert.True(found.Count == 0, $"{project} must not reference {string.Join(", ", found)}");
    }

    [Theory]
    [MemberData(nameof(Rules))]
    public void Built_assemblies_reference_nothing_forbidden(string project, string assembly, string[] forbidden)
    {
        var found = Assembly.Load(assembly).GetReferencedAssemblies().Select(a => a.Name!).Where(n => IsForbidden(n, forbidden)).ToList();
        Assert.True(found.Count == 0, $"{project} ({assembly}.dll) references {string.Join(", ", found)}");
    }

    [Fact]
    public void Core_references_TorchSharp_and_its_libtorch_only()
    {
        // Besides the framework: TorchSharp, and the libtorch package of the build's backend (none for l4t).
        var references = ProjectClosure("Became.Core").Where(r => r.Project == "Became.Core").Select(r => r.Name).ToList();
        var other = references.Where(n => n != "TorchSharp" && !n.StartsWith("libtorch-", StringComparison.Ordinal)).ToList();
        Assert.True(other.Count == 0, $"Became.Core references {string.Join(", ", other)}");
        Assert.Contains("TorchSharp", references);

        var assemblies = Assembly.Load("Became.Core").GetReferencedAssemblies().Select(a => a.Name!)
            .Where(n => n != "TorchSharp" && n != "netstandard" && !n.StartsWith("System", StringComparison.Ordinal) && !n.StartsWith("Microsoft.Win32", StringComparison.Ordinal))
            .ToList();
        Assert.True(assemblies.Count == 0, $"Became.Core.dll references {string.Join(", ", assemblies)}");
    }

    [Theory]
    [InlineData("became", new[] { "SkiaSharp", "became-bench" })]
    [InlineData("became-bench", new[] { "MQTTnet", "LiteDB", "Microsoft.Extensions.Hosting", "Became.Agent" })]
    public void Executables_do_not_ship_forbidden_libraries(string program, string[] forbidden)
    {
        // What `dotnet publish` copies is what deps.json lists: the device image publishes became.
        using var deps = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, $"{program}.deps.json")));
        var shipped = deps.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name.Split('/')[0]).Where(n => IsForbidden(n, forbidden)).ToList();
        Assert.True(shipped.Count == 0, $"{program} ships {string.Join(", ", shipped)}");
    }

    [Fact]
    public void The_benchmark_runs_without_the_ASP_NET_Core_framework()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "became-bench.runtimeconfig.json")));
        var options = config.RootElement.GetProperty("runtimeOptions");
        var frameworks = options.TryGetProperty("frameworks", out var list)
            ? list.EnumerateArray().Select(f => f.GetProperty("name").GetString()).ToList()
            : [options.GetProperty("framework").GetProperty("name").GetString()];
        Assert.Equal(["Microsoft.NETCore.App"], frameworks);
    }

    private static bool IsForbidden(string name, string[] forbidden) =>
        forbidden.Any(f => name.Equals(f, StringComparison.Ordinal) || name.StartsWith(f + ".", StringComparison.Ordinal));

    /// <summary>Every package, framework and project a project references, through its project references.</summary>
    private static List<(string Name, string Project)> ProjectClosure(string project)
    {
        var found = new List<(string, string)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([Path.Combine(ToolProcess.RepositoryRoot, "src", project, project + ".csproj")]);
        while (pending.TryPop(out string? path))
        {
            path = Path.GetFullPath(path);
            if (!seen.Add(path))
            {
                continue;
            }

            string name = Path.GetFileNameWithoutExtension(path);
            var document = XDocument.Load(path);
            foreach (var item in document.Descendants())
            {
                string? include = item.Attribute("Include")?.Value;
                if (include is null)
                {
                    continue;
                }

                switch (item.Name.LocalName)
                {
                    // ExcludeAssets="all" takes a transitive package out (Became.Cli does that to TorchSharp's SkiaSharp).
                    case "PackageReference" when item.Attribute("ExcludeAssets")?.Value != "all":
                    case "FrameworkReference":
                        found.Add((include, name));
                        break;
                    case "ProjectReference":
                        string referenced = Path.Combine(Path.GetDirectoryName(path)!, include.Replace('\\', '/'));
                        found.Add((Path.GetFileNameWithoutExtension(referenced), name));
                        found.Add((AssemblyName(referenced), name));
                        pending.Push(referenced);
                        break;
                }
            }
        }

        return found;
    }

    private static string AssemblyName(string csproj) =>
        XDocument.Load(csproj).Descendants("AssemblyName").FirstOrDefault()?.Value ?? Path.GetFileNameWithoutExtension(csproj);
}
