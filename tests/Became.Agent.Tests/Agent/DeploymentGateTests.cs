using Became.Agent.Configuration;
using Became.Agent.Jobs;

namespace Became.Agent.Tests.Agent;

public sealed class DeploymentGateTests
{
    private static readonly GateOptions Defaults = new();

    [Fact]
    public void Large_drop_on_an_earlier_task_with_a_large_test_set_is_rejected()
    {
        string? verdict = DeploymentGate.Verdict(Defaults, "new", new Dictionary<string, double> { ["old"] = 90, ["new"] = 95 }, new Dictionary<string, double> { ["old"] = 98 }, _ => 2000);

        Assert.NotNull(verdict);
        Assert.Contains("old", verdict);
    }

    [Fact]
    public void Same_drop_on_a_tiny_test_set_is_within_noise_and_deployed()
    {
        Assert.Null(DeploymentGate.Verdict(Defaults, "new", new Dictionary<string, double> { ["old"] = 90, ["new"] = 95 }, new Dictionary<string, double> { ["old"] = 98 }, _ => 30));
    }

    [Fact]
    public void Small_drop_is_deployed()
    {
        Assert.Null(DeploymentGate.Verdict(Defaults, "new", new Dictionary<string, double> { ["old"] = 96, ["new"] = 95 }, new Dictionary<string, double> { ["old"] = 98 }, _ => 2000));
    }

    [Fact]
    public void Disabled_gate_deploys_anything()
    {
        var off = new GateOptions { Enabled = false, MinNewTaskAccuracy = 99 };

        Assert.Null(DeploymentGate.Verdict(off, "new", new Dictionary<string, double> { ["old"] = 10, ["new"] = 10 }, new Dictionary<string, double> { ["old"] = 98 }, _ => 2000));
    }
}
