using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Hosting;
using Became.Agent.Deployment;
using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.Serialization;
using Became.Core.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Became.Agent.Tests.Configuration;

/// <summary>The agent's <c>Model:Architecture</c> setting: the AlexNet with its conv GPM defaults, and SGP.</summary>
public sealed class AgentModelOptionsTests
{
    private static AgentOptions Resolve(params string[] args)
    {
        using var host = AgentHost.Build(args);
        return host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
    }

    [Fact]
    public void Alexnet_architecture_brings_the_reference_conv_gpm_settings()
    {
        var options = Resolve("--Model:Architecture=alexnet:0.25", "--Model:InputShape:0=1", "--Model:InputShape:1=28", "--Model:InputShape:2=28", "--Training:Projection=sgp");
        var memory = options.Training.ToLearnerOptions(options.Model).Memory;

        Assert.Equal([0.97], options.Training.Thresholds);
        Assert.Equal(0.003, memory.ThresholdIncrement);
        Assert.Equal([24, 100, 100, 125, 125], memory.LayerSamples);
        Assert.Equal(ProjectionKind.Sgp, memory.Projection);
        using var network = options.Model.CreateNetwork();
        Assert.Equal(0.25, Assert.IsType<AlexNet>(network).WidthMultiplier);
    }

    [Fact]
    public void Mlp_stays_the_default_model()
    {
        var options = Resolve();

        Assert.Equal("mlp", options.Model.Architecture);
        Assert.Equal([0.95, 0.99], options.Training.Thresholds);
        Assert.Null(options.Training.ToLearnerOptions(options.Model).Memory.LayerSamples);
        using var network = options.Model.CreateNetwork();
        Assert.IsType<MultiHeadMlp>(network);
    }

    [Theory]
    [InlineData("Model:Architecture", "--Model:Architecture=resnet")]
    [InlineData("Model:InputShape", "--Model:Architecture=alexnet")]
    [InlineData("Training:Projection", "--Training:Projection=ogd")]
    public void Bad_model_settings_fail_at_start_up_naming_the_setting(string setting, string arg)
    {
        var error = Assert.Throws<OptionsValidationException>(() => Resolve(arg));

        Assert.Contains(error.Failures, f => f.Contains(setting, StringComparison.Ordinal));
    }

    [Fact]
    public void Alexnet_model_file_describes_its_architecture_with_stable_names()
    {
        var options = Resolve("--Model:Architecture=alexnet:0.125", "--Model:InputShape:0=1", "--Model:InputShape:1=28", "--Model:InputShape:2=28");
        using var network = options.Model.CreateNetwork();
        using var learner = new ContinualLearner(network, options.Training.ToLearnerOptions(options.Model), 0);
        network.AddHead(2);

        var (model, _) = ModelFiles.Write(learner, options, 1, 0, ["t0"]);

        var file = SafeTensorsFile.Parse(model);
        using var architecture = JsonDocument.Parse(file.Metadata["architecture"]);
        Assert.Equal("alexnet", architecture.RootElement.GetProperty("kind").GetString());
        Assert.Equal(0.125, architecture.RootElement.GetProperty("widthMultiplier").GetDouble());
        Assert.Equal(network.Parameters.Select(p => p.Name).Order(StringComparer.Ordinal), file.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
    }
}
