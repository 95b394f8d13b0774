using System.CommandLine;
using System.Reflection;
using Became.Agent.Hosting;
using Became.Cli.Tools;

namespace Became.Cli;

/// <summary>
/// The <c>became</c> command line: <c>run</c> (the device service, from Became.Agent), the operator's tools
/// (<c>publish</c>, <c>pull</c>, <c>infer</c>, <c>bench-infer</c>) and <c>bench</c>, which runs the separate
/// <c>became-bench</c> program (<see cref="BenchDispatch"/>) so the device image need not carry it.
/// </summary>
public static class BecameCli
{
    /// <summary>Parses <paramref name="args"/> and runs the command; never throws (but for a cancelled <paramref name="cancellationToken"/>, which gives 130).</summary>
    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);

        // Git-style: everything after "bench" (its --help too) belongs to became-bench.
        return args.Count > 0 && args[0] == BenchDispatch.CommandName
            ? BenchDispatch.RunAsync(args.Skip(1).ToList(), output, error, cancellationToken)
            : CommandLineRunner.RunAsync(CreateRoot(), "became", args, output, error, e => e is MQTTnet.Exceptions.MqttCommunicationException, cancellationToken);
    }

    /// <summary>One line for an exception nobody expected, or its full text with BECAME_VERBOSE=1.</summary>
    public static string Unexpected(string name, Exception e) => CommandLineRunner.Unexpected(name, e);

    /// <summary>The version line of <c>became --version</c>: the build's version and libtorch backend, read from this
    /// assembly's stamp rather than Became.Core's (whose first use loads libtorch).</summary>
    public static string VersionLine()
    {
        var assembly = typeof(BecameCli).Assembly;
        string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "unknown";
        string backend = assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "TorchBackend")?.Value ?? "unknown";
        return $"became {version} (libtorch backend: {backend})";
    }

    internal static RootCommand CreateRoot()
    {
        var root = new RootCommand("became — continual learning on the edge (BECAME: gradient projection + adaptive merging)")
        {
            AgentCommandLine.Create(),
            PublishCommand.Create(),
            RequestCommands.CreatePull(),
            RequestCommands.CreateInfer(),
            StatusCommand.Create(),
            AdoptCommand.Create(),
            BenchDispatch.CreateListing(),
            InferBenchCommand.Create(),
            FleetStatusCommand.Create(),
        };
        CommandLineRunner.SetVersion(root, VersionLine);
        return root;
    }
}
