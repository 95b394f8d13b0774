// Not ...Tests.Hosting: that namespace would shadow Became.Agent.Hosting in tests that write Hosting.AgentHost.
namespace Became.Agent.Tests.HostingChecks;

public sealed class DeployFilesTests
{
    private static readonly string Jetson = Path.Combine(RepositoryRoot(), "deploy", "jetson");

    [Fact]
    public void Unit_is_notify_with_watchdog_and_restart()
    {
        var lines = File.ReadAllLines(Path.Combine(Jetson, "became.service")).Select(l => l.Trim()).ToList();
        Assert.Contains("Type=notify", lines);
        Assert.Contains(lines, l => l.StartsWith("WatchdogSec=", StringComparison.Ordinal));
        Assert.Contains("Restart=on-failure", lines);
    }

    [Fact]
    public void Unit_does_not_restart_after_the_broker_refused_the_settings()
    {
        var lines = File.ReadAllLines(Path.Combine(Jetson, "became.service")).Select(l => l.Trim()).ToList();
        Assert.Contains($"RestartPreventExitStatus={Became.Agent.Hosting.BrokerRefusal.ExitCode}", lines);
    }

    [Fact]
    public void Compose_broker_persists()
    {
        Assert.Contains("persistence true", File.ReadAllText(Path.Combine(Jetson, "mosquitto.conf")), StringComparison.Ordinal);
        Assert.Contains("persistence", File.ReadAllText(Path.Combine(Jetson, "compose.yaml")), StringComparison.Ordinal);
    }

    private static string RepositoryRoot()
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
