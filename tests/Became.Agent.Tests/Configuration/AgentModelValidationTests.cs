using Became.Agent.Configuration;

namespace Became.Agent.Tests.Configuration;

/// <summary>The validator asks the network family and Core's GPM check instead of repeating them.</summary>
public sealed class AgentModelValidationTests
{
    private static IReadOnlyList<string> Failures(Action<AgentOptions> configure)
    {
        var options = new AgentOptions();
        new AgentOptionsDefaults().PostConfigure(null, options);
        configure(options);
        var result = new AgentOptionsValidator().Validate(null, options);
        return result.Failures?.ToList() ?? [];
    }

    [Fact]
    public void Default_settings_pass()
    {
        Assert.Empty(Failures(_ => { }));
    }

    [Fact]
    public void An_input_shape_alexnet_cannot_take_fails_with_the_familys_one_line_reason()
    {
        var options = new AgentOptions();
        options.Model.Architecture = "alexnet:0.25";
        new AgentOptionsDefaults().PostConfigure(null, options);

        var failures = new AgentOptionsValidator().Validate(null, options).Failures;

        string failure = Assert.Single(failures!);
        Assert.Equal("Model:InputShape: AlexNet needs an image input shape [channels, height, width] or [height, width], at least 19 x 19 (e.g. [1, 28, 28]); got [784].", failure);
    }

    [Fact]
    public void Alexnet_takes_a_one_channel_image_shape_and_its_own_threshold_default()
    {
        var options = new AgentOptions();
        options.Model.Architecture = "alexnet";
        options.Model.InputShape = [1, 28, 28];
        new AgentOptionsDefaults().PostConfigure(null, options);

        Assert.Equal([0.97], options.Training.Thresholds);
        Assert.Equal(5, options.Model.SharedLayerCount);
        Assert.True(new AgentOptionsValidator().Validate(null, options).Succeeded);
    }

    [Fact]
    public void Thresholds_for_the_wrong_layer_count_fail_with_cores_message_under_the_setting()
    {
        var failures = Failures(o => o.Training.Thresholds = [0.9, 0.9, 0.9]);

        Assert.Equal("Training:Thresholds: Give one GPM threshold or one per shared layer (2); got 3.", Assert.Single(failures));
    }

    [Fact]
    public void A_threshold_outside_zero_and_one_fails_with_cores_message_under_the_setting()
    {
        var failures = Failures(o => o.Training.Thresholds = [1.5]);

        Assert.Equal("Training:Thresholds: GPM thresholds must lie strictly between 0 and 1.", Assert.Single(failures));
    }

    [Fact]
    public void Layer_samples_for_the_wrong_layer_count_fail_under_the_setting()
    {
        var failures = Failures(o => o.Training.LayerSamples = [10]);

        Assert.Equal("Training:LayerSamples: Give one GPM sample count per shared layer (2); got 1.", Assert.Single(failures));
    }

    [Fact]
    public void Zero_memory_samples_fail_under_the_setting()
    {
        var failures = Failures(o => o.Training.MemorySamples = 0);

        Assert.Equal("Training:MemorySamples: GPM needs at least one sample per representation matrix.", Assert.Single(failures));
    }
}
