using Became.Bench;
using Became.Core.Models;
using Became.Core.Projection;

namespace Became.Bench.Tests;

/// <summary><c>became bench --model/--projection</c> and the conv GPM defaults they bring.</summary>
public sealed class BenchOptionsModelTests
{
    [Fact]
    public void Alexnet_model_brings_the_reference_conv_gpm_settings()
    {
        var options = BenchOptions.Parse(["--model", "alexnet:0.25"]);

        Assert.Same(NetworkFamilies.AlexNet, options.Model.Family);
        Assert.Equal(0.25, options.Model.Width);
        Assert.Equal([0.97], options.Thresholds);
        Assert.Equal(0.003, options.ThresholdIncrement);
        Assert.Equal([24, 100, 100, 125, 125], options.LearnerFor(Became.Core.Training.ContinualMethod.Gpm).Memory.LayerSamples);
        Assert.Equal(Became.Core.Merging.FisherEstimator.Batch, options.Fisher);
    }

    [Fact]
    public void Explicit_thresholds_override_the_alexnet_defaults()
    {
        var options = BenchOptions.Parse(["--model", "alexnet", "--thresholds", "0.9", "--threshold-increment", "0"]);

        Assert.Equal([0.9], options.Thresholds);
        Assert.Equal(0, options.ThresholdIncrement);
    }

    [Fact]
    public void Projection_flag_selects_sgp_with_its_scale()
    {
        var memory = BenchOptions.Parse(["--projection", "sgp", "--sgp-scale", "5"]).LearnerFor(Became.Core.Training.ContinualMethod.Became).Memory;

        Assert.Equal(ProjectionKind.Sgp, memory.Projection);
        Assert.Equal(5, memory.ScaleCoefficient);
        Assert.Equal(ProjectionKind.Gpm, BenchOptions.Parse([]).LearnerFor(Became.Core.Training.ContinualMethod.Became).Memory.Projection);
    }

    [Theory]
    [InlineData("--model", "resnet")]
    [InlineData("--model", "alexnet:0")]
    [InlineData("--projection", "ogd")]
    public void Unknown_model_or_projection_is_refused(string flag, string value)
    {
        Assert.Throws<ArgumentException>(() => BenchOptions.Parse([flag, value]));
    }

    [Fact]
    public void Thresholds_must_match_the_alexnets_five_layers()
    {
        var error = Assert.Throws<ArgumentException>(() => BenchOptions.Parse(["--model", "alexnet", "--thresholds", "0.95,0.99"]));
        Assert.Contains("5", error.Message);
    }
}
