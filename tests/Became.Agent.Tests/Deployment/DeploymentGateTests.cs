using Became.Agent.Configuration;
using Became.Agent.Deployment;

namespace Became.Agent.Tests.Deployment;

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

    [Fact]
    public void Two_flips_in_30_samples_after_a_perfect_score_are_noise_and_deployed()
    {
        // 100% -> 93.33%: 2 of 30 answers flipped. The plain p(1 - p) / n noise term was 0 at 100% and held this back.
        Assert.Null(DeploymentGate.Verdict(Defaults, "new", new Dictionary<string, double> { ["old"] = 93.33, ["new"] = 95 }, new Dictionary<string, double> { ["old"] = 100 }, _ => 30));
    }

    [Fact]
    public void Large_drop_after_a_perfect_score_is_still_rejected()
    {
        Assert.NotNull(DeploymentGate.Verdict(Defaults, "new", new Dictionary<string, double> { ["old"] = 90, ["new"] = 95 }, new Dictionary<string, double> { ["old"] = 100 }, _ => 2000));
        Assert.NotNull(DeploymentGate.Verdict(Defaults, "new", new Dictionary<string, double> { ["old"] = 70, ["new"] = 95 }, new Dictionary<string, double> { ["old"] = 100 }, _ => 30));
    }

    [Theory]
    [InlineData(100, 30)]
    [InlineData(0, 30)]
    [InlineData(100, 1)]
    public void Sampling_noise_is_not_zero_at_0_or_100_percent(double accuracy, int testCount)
    {
        Assert.True(DeploymentGate.SamplingNoise(accuracy, testCount) > 1);
    }

    [Fact]
    public void Sampling_noise_shrinks_with_the_test_set()
    {
        Assert.True(DeploymentGate.SamplingNoise(95, 2000) < DeploymentGate.SamplingNoise(95, 200));
        Assert.True(DeploymentGate.SamplingNoise(95, 200) < DeploymentGate.SamplingNoise(95, 30));
    }
}
