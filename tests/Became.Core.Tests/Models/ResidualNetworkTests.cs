using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Tests.Models;

/// <summary>The two ResNet-18s: geometry, names, shared layers, batch norm and what the learner gets from them.</summary>
public sealed class ResidualNetworkTests
{
    private static readonly string[] ResNetConvs =
    [
        "conv1.weight",
        "layer1.0.conv1.weight", "layer1.0.conv2.weight", "layer1.1.conv1.weight", "layer1.1.conv2.weight",
        "layer2.0.conv1.weight", "layer2.0.conv2.weight", "layer2.0.shortcut.0.weight", "layer2.1.conv1.weight", "layer2.1.conv2.weight",
        "layer3.0.conv1.weight", "layer3.0.conv2.weight", "layer3.0.shortcut.0.weight", "layer3.1.conv1.weight", "layer3.1.conv2.weight",
        "layer4.0.conv1.weight", "layer4.0.conv2.weight", "layer4.0.shortcut.0.weight", "layer4.1.conv1.weight", "layer4.1.conv2.weight",
    ];

    [Theory]
    [InlineData(new long[] { 3, 84, 84 }, 1.0, 2, 160 * 3 * 3)] // the authors' miniImageNet geometry: nf*8*9
    [InlineData(new long[] { 3, 32, 32 }, 1.0, 1, 160 * 2 * 2)]
    [InlineData(new long[] { 1, 28, 28 }, 0.5, 1, 80 * 2 * 2)]
    [InlineData(new long[] { 28, 28 }, 0.25, 1, 40 * 2 * 2)]
    [InlineData(new long[] { 1, 9, 9 }, 0.25, 1, 40)]
    public void Resnet18_strides_its_first_conv_by_the_input_size_and_sizes_its_heads_by_the_pooled_map(long[] shape, double width, int firstStride, int features)
    {
        using var scope = NewDisposeScope();
        using var network = new ResNet18(shape, width, seed: 1);
        network.AddHead(2);
        network.AddHead(5);

        var logits = network.Forward(rand(2, shape.Aggregate(1L, (a, b) => a * b)), 1);

        Assert.Equal(firstStride, network.FirstStride);
        Assert.Equal([5L, features], network.HeadParameters(1)[0].Tensor.shape);
        Assert.Equal([2L, 5], logits.shape);
    }

    [Fact]
    public void Resnet18_names_its_parameters_as_the_authors_module_with_heads()
    {
        using var network = new ResNet18([3, 32, 32], 0.5, seed: 1);
        network.AddHead(2);

        var names = network.Parameters.Select(p => p.Name).ToList();
        Assert.Equal(["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.conv2.weight"], names.Take(7));
        Assert.Contains("layer2.0.shortcut.0.weight", names);
        Assert.Contains("layer2.0.shortcut.1.bias", names);
        Assert.DoesNotContain(names, n => n.StartsWith("layer1.0.shortcut", StringComparison.Ordinal));
        Assert.Equal("heads.0.weight", names[^1]);

        // 20 convolutions (17 3x3 + 3 shortcuts), each with a batch norm, plus the head: the authors' state dict.
        Assert.Equal(20 + 40 + 1, names.Count);
        Assert.Empty(network.Buffers);
    }

    [Fact]
    public void Resnet18_shares_every_convolution_in_the_authors_parameter_order_with_its_geometry()
    {
        using var network = new ResNet18([3, 32, 32], 0.5, seed: 1);

        Assert.Equal(ResNetConvs, network.SharedLayers.Select(l => l.Name));
        Assert.Equal(new ConvKernel(3, 1, 1), network.SharedLayers[0].Kernel);
        Assert.Equal(new ConvKernel(3, 2, 1), network.SharedLayers[5].Kernel);
        Assert.Equal(new ConvKernel(1, 2, 0), network.SharedLayers[7].Kernel);
        Assert.Equal([27L, 90, 90, 90, 90, 90, 180, 10], network.SharedLayers.Take(8).Select(l => l.InputDimension));
    }

    [Fact]
    public void Resnet18_normalises_with_batch_statistics_and_needs_two_inputs()
    {
        using var scope = NewDisposeScope();
        using var network = new ResNet18([1, 28, 28], 0.25, seed: 1);
        network.AddHead(2);

        var error = Assert.Throws<ArgumentException>(() => network.Forward(rand(1, 784), 0));

        Assert.Contains("at least 2 samples", error.Message);
        Assert.Equal(2, network.MinimumBatch);
    }

    [Fact]
    public void The_representations_are_the_reference_patches_of_each_conv_from_the_layers_sample_count()
    {
        using var scope = NewDisposeScope();
        using var network = NetworkFamilies.Parse("resnet18:0.25").Create([1, 28, 28], seed: 3);
        using var learner = new ContinualLearner(network, PaperOptions(NetworkFamilies.ResNet18), 0);
        int head = network.AddHead(2);
        using var data = new Core.Data.LabelledSet(randn(120, 784), zeros(120, dtype: ScalarType.Int64));

        var representations = learner.Representations(data, head);

        Assert.Equal(20, representations.Count);
        Assert.Equal([9L, 10 * 28 * 28], representations[0].shape); // conv1: 3x3 patches, padding 1, stride 1
        Assert.Equal([5L * 9, 10 * 14 * 14], representations[5].shape); // layer2.0.conv1: stride 2
        Assert.Equal([5L, 10 * 14 * 14], representations[7].shape); // layer2.0's 1x1 shortcut on the block input
        Assert.Equal([10L * 9, 50 * 14 * 14], representations[9].shape); // layer2.1.conv2: 50 samples
        Assert.Equal([40L * 9, 100 * 4 * 4], representations[19].shape); // layer4.1.conv2: 100 samples
    }

    [Fact]
    public void Preact_resnet18_names_its_parameters_and_running_statistics_as_the_authors_module()
    {
        using var network = new PreActResNet18([3, 32, 32], 0.125, seed: 1);
        network.AddHead(10);

        var names = network.Parameters.Select(p => p.Name).ToList();
        Assert.Equal(["conv1.weight", "stage1.0.bn1.weight", "stage1.0.bn1.bias", "stage1.0.conv1.weight", "stage1.0.bn2.weight"], names.Take(5));
        Assert.Contains("stage2.0.shortcut.0.weight", names);
        Assert.Equal(["bn_last.weight", "bn_last.bias", "heads.0.weight", "heads.0.bias"], names.TakeLast(4));
        Assert.Equal(["stage1.0.bn1.running_mean", "stage1.0.bn1.running_var", "stage1.0.bn1.num_batches_tracked"], network.Buffers.Take(3).Select(b => b.Name));
        Assert.Equal(17 * 3, network.Buffers.Count); // 16 block norms + bn_last
        Assert.Equal(ResNetConvs.Select(n => n.Replace("layer", "stage", StringComparison.Ordinal)), network.SharedLayers.Select(l => l.Name));
        Assert.Equal([8, 16, 32, 64], network.Widths);
    }

    [Fact]
    public void Preact_resnet18_moves_its_running_statistics_only_in_training_and_answers_one_input_in_evaluation()
    {
        using var scope = NewDisposeScope();
        using var network = new PreActResNet18([3, 32, 32], 0.125, seed: 1);
        network.AddHead(2);
        var x = rand(4, 3 * 32 * 32);
        var mean = network.Buffers.Single(b => b.Name == "bn_last.running_mean").Tensor;

        using (no_grad())
        {
            network.Forward(x, 0);
            Assert.Equal(0f, mean.abs().sum().item<float>());
            network.Training = true;
            network.Forward(x, 0);
            network.Training = false;
        }

        Assert.NotEqual(0f, mean.abs().sum().item<float>());
        Assert.Equal(1L, network.Buffers.Single(b => b.Name == "bn_last.num_batches_tracked").Tensor.item<long>());
        using (no_grad())
        {
            // Evaluation uses the running statistics: an input's answer does not depend on its batch.
            var alone = network.Forward(x.narrow(0, 0, 1), 0);
            var inBatch = network.Forward(x, 0).narrow(0, 0, 1);
            Assert.True(alone.allclose(inBatch, rtol: 1e-5, atol: 1e-6));
        }
    }

    [Fact]
    public void A_learners_state_carries_the_running_statistics_into_a_fresh_network()
    {
        using var scope = NewDisposeScope();
        var spec = NetworkFamilies.Parse("preact-resnet18:0.0625");
        using var network = spec.Create([3, 16, 16], seed: 1);
        using var learner = new ContinualLearner(network, PaperOptions(spec.Family), 0);
        network.AddHead(2);
        using (no_grad())
        {
            network.Training = true;
            network.Forward(rand(8, 3 * 16 * 16), 0);
            network.Training = false;
        }

        var state = LearnerCheckpoint.Export(learner);
        using var copy = spec.Create([3, 16, 16], seed: 2);
        using var restored = new ContinualLearner(copy, PaperOptions(spec.Family), 0);
        LearnerCheckpoint.Import(restored, [2], state);

        Assert.Contains("model.stage4.1.bn2.running_var", state.Keys);
        foreach (var (mine, theirs) in network.Buffers.Zip(copy.Buffers))
        {
            Assert.True(mine.Tensor.to_type(ScalarType.Float64).allclose(theirs.Tensor.to_type(ScalarType.Float64), 0, 0), mine.Name);
        }

        var x = rand(1, 3 * 16 * 16);
        using (no_grad())
        {
            Assert.True(network.Forward(x, 0).allclose(copy.Forward(x, 0), 0, 0));
        }

        foreach (var tensor in state.Values)
        {
            tensor.Dispose();
        }
    }

    private static LearnerOptions PaperOptions(INetworkFamily family)
    {
        var memory = family.MemoryDefaults;
        return new LearnerOptions { Memory = new GpmOptions { Thresholds = memory.Thresholds, ThresholdIncrement = memory.ThresholdIncrement, LayerSamples = memory.LayerSamples } };
    }
}
