using System.Globalization;
using Became.Agent.Tests.Faults;
using Became.Agent.Tests.Mqtt;

// Not ...Tests.Hosting: that namespace would shadow Became.Agent.Hosting in tests that write Hosting.AgentHost.
namespace Became.Agent.Tests.HostingChecks;

/// <summary>Two real `became run` processes that would share what only one may have: a data directory, a broker port.</summary>
[Trait("Speed", "Slow")]
public sealed class SingleInstanceTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_second_agent_on_the_same_data_directory_exits_2_naming_it_and_the_first_keeps_working()
    {
        await using var first = await ChildAgent.CreateAsync();
        await first.StartAsync();
        var before = Directory.GetFiles(first.DataDirectory, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);

        // The same device id and broker too: without the lock it would take over the first one's client id and LiteDB file.
        var second = await BecameCommand.RunProcessAsync(
        [
            "run", $"--DeviceId={first.DeviceId}", $"--DataDirectory={first.DataDirectory}", "--Broker:Host=127.0.0.1",
            $"--Broker:Port={first.BrokerPort}",
        ]);

        BecameCommand.AssertUsageError(second, Path.GetFullPath(first.DataDirectory), $"process {first.ProcessId}", "--data-dir");
        Assert.DoesNotContain("MQTT connected", second.Output, StringComparison.Ordinal);
        foreach (var (file, written) in before.Where(f => !f.Key.EndsWith("became-log.db", StringComparison.Ordinal)))
        {
            Assert.Equal(written, File.GetLastWriteTimeUtc(file));
        }

        // The first agent still learns: a task sent now is accepted and deployed.
        await first.PublishAsync(("after-second", AgentHarness.SplitTask(0, 200)));
        await first.WaitForAsync("model.deployed", "after-second", Minute);
    }

    [Fact]
    public async Task A_second_agent_on_the_embedded_port_of_a_running_one_exits_2_and_the_first_keeps_its_broker()
    {
        int port = TestBrokers.FreePort();
        string firstData = Directory.CreateTempSubdirectory("became-port-a-").FullName;
        string secondData = Directory.CreateTempSubdirectory("became-port-b-").FullName;
        try
        {
            string portText = port.ToString(CultureInfo.InvariantCulture);
            await using var first = AgentProcess.Start(firstData, null, "--Broker:EmbeddedPort=" + portText);
            Assert.NotNull(await first.LineContainingAsync($"listening on became/", Minute));

            var second = await BecameCommand.RunProcessAsync(["run", "--data-dir", secondData, "--embedded-port", portText]);

            BecameCommand.AssertUsageError(second, $"port {port}", "--embedded-port");
            Assert.DoesNotContain($"listening on 127.0.0.1:{port}", second.Output, StringComparison.Ordinal);
            Assert.False(first.Process.HasExited);

            // The first one's broker still answers and is still the only one: a client connects and round-trips a message.
            await using var probe = await MqttProbe.ConnectAsync(port);
            await probe.RoundTripAsync();
        }
        finally
        {
            Directory.Delete(firstData, recursive: true);
            Directory.Delete(secondData, recursive: true);
        }
    }
}
