using System.Runtime.Versioning;
using System.Text.RegularExpressions;

// Not ...Tests.Hosting: that namespace would shadow Became.Agent.Hosting in tests that write Hosting.AgentHost.
namespace Became.Agent.Tests.HostingChecks;

/// <summary>deploy/jetson checked with the tools that run without a Docker engine, a Jetson or systemd as PID 1.</summary>
[Trait("Speed", "Slow")]
public sealed partial class DeployFilesTests : IDisposable
{
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);
    private static readonly string Jetson = Path.Combine(ToolProcess.RepositoryRoot, "deploy", "jetson");
    private readonly string _temp = Directory.CreateTempSubdirectory("became-deploy-").FullName;

    [Fact]
    public void Unit_is_notify_with_watchdog_restart_state_directory_and_a_dynamic_user()
    {
        var lines = File.ReadAllLines(Path.Combine(Jetson, "became.service")).Select(l => l.Trim()).ToList();
        Assert.Contains("Type=notify", lines);
        Assert.Contains(lines, l => l.StartsWith("WatchdogSec=", StringComparison.Ordinal));
        Assert.Contains("Restart=on-failure", lines);
        Assert.Contains("StateDirectory=became", lines);
        Assert.Contains("DynamicUser=yes", lines);
        Assert.Contains("ProtectSystem=strict", lines);
    }

    [Theory]
    [InlineData(ExitCodes.BrokerRefused)]
    [InlineData(ExitCodes.Usage)]
    public void Unit_does_not_restart_after_a_refusal_or_a_usage_error(int exitCode)
    {
        string line = File.ReadAllLines(Path.Combine(Jetson, "became.service")).Select(l => l.Trim()).Single(l => l.StartsWith("RestartPreventExitStatus=", StringComparison.Ordinal));
        Assert.Contains(exitCode.ToString(System.Globalization.CultureInfo.InvariantCulture), line["RestartPreventExitStatus=".Length..].Split(' '));
    }

    [Fact]
    [SupportedOSPlatform("linux")]
    public async Task Unit_passes_systemd_analyze_verify()
    {
        // The unit names /opt/became/became, which install.sh puts there; point it at an executable that exists
        // here so verify checks everything else (it fails on a missing ExecStart binary, and only on that: see below).
        string stub = Path.Combine(_temp, "became");
        await File.WriteAllTextAsync(stub, "#!/bin/sh\n");
        File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string unit = Path.Combine(_temp, "became.service");
        string text = await File.ReadAllTextAsync(Path.Combine(Jetson, "became.service"));
        Assert.Contains("ExecStart=/opt/became/became run", text, StringComparison.Ordinal);
        await File.WriteAllTextAsync(unit, text.Replace("ExecStart=/opt/became/became", $"ExecStart={stub}", StringComparison.Ordinal));

        var result = await ToolProcess.RunAsync("systemd-analyze", ["verify", unit], ToolTimeout, setupHint: "Run scripts/setup.sh (installs systemd).");

        Assert.True(result.ExitCode == 0 && result.Error.Trim().Length == 0, result.Describe());
    }

    [Fact]
    public async Task Systemd_analyze_verify_catches_a_broken_unit()
    {
        // The check above can fail: an unknown directive and a missing binary are reported.
        string unit = Path.Combine(_temp, "became.service");
        string text = await File.ReadAllTextAsync(Path.Combine(Jetson, "became.service"));
        await File.WriteAllTextAsync(unit, text.Replace("Restart=on-failure", "Restrat=on-failure", StringComparison.Ordinal));

        var result = await ToolProcess.RunAsync("systemd-analyze", ["verify", unit], ToolTimeout);

        Assert.Contains("/opt/became/became is not executable", result.Error, StringComparison.Ordinal);
        Assert.Contains("Unknown key 'Restrat'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compose_file_parses_with_a_persistent_broker_gpu_runtime_and_data_volume()
    {
        var result = await ComposeConfigAsync(new Dictionary<string, string?> { ["BECAME_HTTP_TOKEN"] = "test-token" });

        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains("runtime: nvidia", result.Output, StringComparison.Ordinal);
        Assert.Contains("BECAME__HTTPTOKEN: test-token", result.Output, StringComparison.Ordinal);
        Assert.Contains("mosquitto-data:/mosquitto/data", result.Output, StringComparison.Ordinal);
        Assert.Contains("became-data:/data", result.Output, StringComparison.Ordinal);
        Assert.Contains("persistence true", await File.ReadAllTextAsync(Path.Combine(Jetson, "mosquitto.conf")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compose_refuses_to_start_without_an_http_token()
    {
        // The agent binds HTTP to 0.0.0.0 in the container: never without a token.
        var result = await ComposeConfigAsync(new Dictionary<string, string?> { ["BECAME_HTTP_TOKEN"] = null });

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("set BECAME_HTTP_TOKEN", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dockerfile_passes_dockerfilelint()
    {
        string lint = Path.Combine(ToolProcess.RepositoryRoot, "tools", "dockerfilelint", "node_modules", ".bin", "dockerfilelint");
        Assert.True(File.Exists(lint), $"{lint} is missing: run scripts/setup.sh (npm ci --prefix tools/dockerfilelint).");

        var result = await ToolProcess.RunAsync(lint, [Path.Combine(Jetson, "Dockerfile")], ToolTimeout);

        Assert.True(result.ExitCode == 0, result.Describe());
    }

    [Fact]
    public void Every_base_image_is_pinned_to_a_tag()
    {
        // What dockerfilelint cannot parse (see deploy/jetson/.dockerfilelintrc): resolve ARG defaults, skip flags.
        var lines = File.ReadAllLines(Path.Combine(Jetson, "Dockerfile"));
        var arguments = lines.Select(l => ArgDefault().Match(l)).Where(m => m.Success).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var stages = new HashSet<string>(StringComparer.Ordinal);
        int images = 0;
        foreach (string line in lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)))
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToList();
            string image = ArgReference().Replace(words[0], m => arguments.GetValueOrDefault(m.Groups[1].Value, m.Value));
            if (!stages.Contains(image))
            {
                images++;
                Assert.Matches(@"^[a-z0-9./-]+:[A-Za-z0-9._-]+$", image);
                Assert.DoesNotContain(":latest", image, StringComparison.Ordinal);
            }

            if (words.Count == 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase))
            {
                stages.Add(words[2]);
            }
        }

        Assert.True(images >= 3, $"only {images} base images found");
    }

    private static Task<ToolResult> ComposeConfigAsync(IReadOnlyDictionary<string, string?> environment) =>
        ToolProcess.RunAsync("docker-compose", ["-f", Path.Combine(Jetson, "compose.yaml"), "config"], ToolTimeout, environment, "Run scripts/setup.sh (installs docker-compose).");

    [GeneratedRegex(@"^ARG\s+(\w+)=(\S+)")]
    private static partial Regex ArgDefault();

    [GeneratedRegex(@"\$\{(\w+)\}")]
    private static partial Regex ArgReference();

    public void Dispose() => Directory.Delete(_temp, recursive: true);
}
