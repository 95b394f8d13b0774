using Became.Core.Models;

namespace Became.Core.Tests.Models;

/// <summary>The network-family registry: parsing, paper defaults, input-shape rules and capabilities.</summary>
public sealed class NetworkFamiliesTests
{
    [Theory]
    [InlineData("mlp", "mlp", 1.0)]
    [InlineData("MLP", "mlp", 1.0)]
    [InlineData("alexnet", "alexnet", 1.0)]
    [InlineData(" AlexNet:0.25 ", "alexnet", 0.25)]
    [InlineData("resnet18", "resnet18", 1.0)]
    [InlineData("ResNet18:0.5", "resnet18", 0.5)]
    [InlineData("preact-resnet18:0.25", "preact-resnet18", 0.25)]
    public void A_spec_text_names_its_family_and_width(string text, string family, double width)
    {
        var spec = NetworkFamilies.Parse(text);

        Assert.Equal(family, spec.Family.Name);
        Assert.Equal(width, spec.Width);
    }

    [Theory]
    [InlineData("resnet", "Unknown model 'resnet'. Use mlp or alexnet[:width] or resnet18[:width] or preact-resnet18[:width].")]
    [InlineData("mlp:2", "Unknown model 'mlp:2'. Use mlp or alexnet[:width] or resnet18[:width] or preact-resnet18[:width].")]
    [InlineData("resnet18:-1", "'resnet18:-1': the ResNet-18 width multiplier must be a positive number, e.g. resnet18:0.5.")]
    [InlineData("alexnet:0", "'alexnet:0': the AlexNet width multiplier must be a positive number, e.g. alexnet:0.25.")]
    [InlineData("alexnet:wide", "'alexnet:wide': the AlexNet width multiplier must be a positive number, e.g. alexnet:0.25.")]
    public void A_spec_that_does_not_read_is_one_clear_error(string text, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => NetworkFamilies.Parse(text));

        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void A_spec_name_reads_back_as_the_same_spec()
    {
        foreach (string text in new[] { "mlp", "alexnet", "alexnet:0.25", "resnet18", "resnet18:0.5", "preact-resnet18:0.125" })
        {
            Assert.Equal(text, NetworkFamilies.Parse(text).Name);
        }
    }

    [Fact]
    public void Each_family_carries_the_papers_gpm_defaults()
    {
        Assert.Equal([0.95, 0.99], NetworkFamilies.Mlp.MemoryDefaults.Thresholds);
        Assert.Equal(0, NetworkFamilies.Mlp.MemoryDefaults.ThresholdIncrement);
        Assert.Null(NetworkFamilies.Mlp.MemoryDefaults.LayerSamples);
        Assert.Equal([0.97], NetworkFamilies.AlexNet.MemoryDefaults.Thresholds);
        Assert.Equal(0.003, NetworkFamilies.AlexNet.MemoryDefaults.ThresholdIncrement);
        Assert.Equal([24, 100, 100, 125, 125], NetworkFamilies.AlexNet.MemoryDefaults.LayerSamples);

        // GPM's miniImageNet ResNet path: 0.985 + 0.0003 t on all 20 convolutions; [10]*8 + [50]*3 + [100]*6 over the
        // 3x3 convolutions with each shortcut taking its block's first convolution's count.
        Assert.Equal([0.985], NetworkFamilies.ResNet18.MemoryDefaults.Thresholds);
        Assert.Equal(0.0003, NetworkFamilies.ResNet18.MemoryDefaults.ThresholdIncrement);
        Assert.Equal(
            [10, 10, 10, 10, 10, 10, 10, 10, 10, 50, 50, 50, 50, 100, 100, 100, 100, 100, 100, 100],
            NetworkFamilies.ResNet18.MemoryDefaults.LayerSamples);
    }

    [Fact]
    public void The_shared_layer_count_is_the_mlps_hidden_layers_or_alexnets_five()
    {
        Assert.Equal(3, NetworkFamilies.Parse("mlp", [10, 20, 30]).SharedLayerCount);
        Assert.Equal(5, NetworkFamilies.Parse("alexnet:0.5", [10, 20, 30]).SharedLayerCount);
        Assert.Equal(20, NetworkFamilies.Parse("resnet18:0.5").SharedLayerCount);
        Assert.Equal(20, NetworkFamilies.Parse("preact-resnet18").SharedLayerCount);
    }

    [Theory]
    [InlineData(new long[] { 784 })]
    [InlineData(new long[] { 2, 28 })]
    [InlineData(new long[] { 1, 19, 19 })]
    public void The_mlp_takes_any_positive_shape(long[] shape)
    {
        Assert.Null(NetworkFamilies.Mlp.CheckInputShape(shape));
    }

    [Theory]
    [InlineData(new long[] { 784 })]
    [InlineData(new long[] { 1, 18, 30 })]
    [InlineData(new long[] { 1, 1, 28, 28 })]
    public void Alexnet_refuses_a_shape_that_is_not_an_image_it_can_pool_in_one_line(long[] shape)
    {
        string? problem = NetworkFamilies.AlexNet.CheckInputShape(shape);

        Assert.NotNull(problem);
        Assert.DoesNotContain('\n', problem);
        Assert.Contains($"got [{string.Join(", ", shape)}]", problem);
        Assert.Throws<ArgumentException>(() => NetworkFamilies.Parse("alexnet:0.25").Create(shape));
    }

    [Fact]
    public void A_shape_without_positive_dimensions_is_refused_by_every_family()
    {
        foreach (var family in NetworkFamilies.All)
        {
            Assert.Equal("The input shape needs positive dimensions.", family.CheckInputShape([1, 0, 28]));
        }
    }

    [Fact]
    public void The_mlp_has_every_capability_and_alexnet_none()
    {
        var all = NetworkCapabilities.InputProjection | NetworkCapabilities.ExactFisher | NetworkCapabilities.ParallelFisherAndMemory | NetworkCapabilities.ConcurrentForward;
        Assert.Equal(all, NetworkFamilies.Mlp.Capabilities);
        Assert.Equal(NetworkCapabilities.None, NetworkFamilies.AlexNet.Capabilities);
        Assert.Equal(NetworkCapabilities.None, NetworkFamilies.ResNet18.Capabilities);
        Assert.Equal(NetworkCapabilities.None, NetworkFamilies.PreActResNet18.Capabilities);
    }

    [Fact]
    public void A_network_declares_its_familys_capabilities()
    {
        foreach (var (text, shape) in new[] { ("mlp", new long[] { 784 }), ("alexnet:0.125", new long[] { 1, 28, 28 }), ("resnet18:0.125", new long[] { 1, 28, 28 }), ("preact-resnet18:0.0625", new long[] { 3, 32, 32 }) })
        {
            var spec = NetworkFamilies.Parse(text);
            using var network = spec.Create(shape, seed: 1);

            Assert.Equal(spec.Family.Capabilities, network.Capabilities);
        }
    }

    [Fact]
    public void Only_the_mlp_reads_its_inputs_as_flat_vectors()
    {
        Assert.Equal([NetworkFamilies.Mlp], NetworkFamilies.All.Where(f => !f.TakesImages));
    }

    [Theory]
    [InlineData("resnet18", new long[] { 784 })]
    [InlineData("resnet18", new long[] { 1, 8, 8 })]
    [InlineData("resnet18", new long[] { 1, 1, 28, 28 })]
    [InlineData("preact-resnet18", new long[] { 784 })]
    public void The_resnets_refuse_a_shape_that_is_not_an_image_they_can_take_in_one_line(string family, long[] shape)
    {
        var spec = NetworkFamilies.Parse(family);
        string? problem = spec.Family.CheckInputShape(shape);

        Assert.NotNull(problem);
        Assert.DoesNotContain('\n', problem);
        Assert.Throws<ArgumentException>(() => spec.Create(shape));
    }
}
