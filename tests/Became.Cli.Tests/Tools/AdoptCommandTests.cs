namespace Became.Cli.Tests.Tools;

/// <summary><c>became adopt</c>: one line for the outcome, one line and exit 1 for the device's refusal, exit 2 for a
/// usage mistake.</summary>
[Trait("Speed", "Slow")]
public sealed class AdoptCommandTests
{
    [Fact]
    public async Task Adopt_prints_the_outcome_in_one_line_and_a_refusal_with_its_code()
    {
        await using var a = await AgentHarness.StartAsync(epochs: 1);
        await using var b = await AgentHarness.StartAsync(externalPort: a.BrokerPort, epochs: 1);
        await a.PublishTaskAsync("c0", AgentHarness.SplitTask(0, 200));
        await a.WaitForAsync("model.deployed", "c0", TimeSpan.FromSeconds(300));
        string broker = $"127.0.0.1:{a.BrokerPort}";

        var adopted = await CommandLineTests.RunAsync("adopt", "--device", b.DeviceId, "--from", a.DeviceId, "--broker", broker);
        Assert.True(adopted.Code == 0, adopted.Error);
        Assert.Equal($"{b.DeviceId}: adopted {a.DeviceId} version 1 as version 1, deployed (accuracy c0 {b.Store.FindVersion(1)!.Accuracy["c0"]:F2}%)", adopted.Output.Trim());

        var unknown = await CommandLineTests.RunAsync("adopt", "--device", b.DeviceId, "--from", a.DeviceId, "--version", "9", "--broker", broker);
        Assert.Equal(1, unknown.Code);
        Assert.Single(unknown.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("became adopt: unknown_version: ", unknown.Error, StringComparison.Ordinal);

        BecameCommand.AssertUsageError(await CommandLineTests.RunAsync("adopt", "--device", b.DeviceId, "--from", b.DeviceId, "--broker", broker), "cannot adopt from itself");
        BecameCommand.AssertUsageError(await CommandLineTests.RunAsync("adopt", "--device", b.DeviceId, "--broker", broker), "--from");
    }
}
