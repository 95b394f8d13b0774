using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Tests.Conv;

/// <summary>The AlexNet's shapes, names and modes, on random inputs at small widths.</summary>
public sealed class AlexNetTests
{
    [Theory]
    [InlineData(1, 28, 28, 0.25, 64 * 4)]
    [InlineData(3, 32, 32, 0.25, 64 * 4)]
    [InlineData(3, 32, 32, 1.0, 256 * 4)]
    [InlineData(1, 20, 24, 0.125, 32 * 1 * 1)]
    public void AlexNet_gives_logits_for_images_the_layer_arithmetic_allows(int channels, int height, int width, double multiplier, int flat)
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var network = new AlexNet(channels, height, width, multiplier);
        network.AddHead(2);
        network.AddHead(5);

        var logits = network.Forward(randn(3, channels * height * width), 1);

        Assert.Equal(flat, network.FlatFeatures);
        Assert.Equal([3L, 5], logits.shape);
    }

    [Fact]
    public void AlexNet_names_its_parameters_as_the_reference_module_with_heads()
    {
        using var network = new AlexNet(1, 28, 28, 0.25);
        network.AddHead(2);

        string[] expected =
        [
            "conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias", "conv3.weight", "bn3.weight", "bn3.bias",
            "fc1.weight", "bn4.weight", "bn4.bias", "fc2.weight", "bn5.weight", "bn5.bias", "heads.0.weight",
        ];
        Assert.Equal(expected, network.Parameters.Select(p => p.Name));
        Assert.Equal(["conv1.weight", "conv2.weight", "conv3.weight", "fc1.weight", "fc2.weight"], network.SharedLayers.Select(l => l.Name));
        Assert.Equal([16L, 16 * 9, 32 * 4, 64 * 4, 512], network.SharedLayers.Select(l => l.InputDimension));
    }

    [Fact]
    public void AlexNet_scales_every_width_by_the_multiplier()
    {
        using var network = new AlexNet(3, 32, 32, 0.5);
        network.AddHead(10);

        Assert.Equal([32, 64, 128], network.Channels);
        Assert.Equal(1024, network.HiddenSize);
        Assert.Equal([32L, 3, 4, 4], network.Parameters[0].Tensor.shape);
        Assert.Equal([10L, 1024], network.HeadParameters(0)[0].Tensor.shape);
    }

    [Fact]
    public void AlexNet_rejects_an_input_too_small_for_its_convolutions()
    {
        var error = Assert.Throws<ArgumentException>(() => new AlexNet(1, 8, 8, 0.25));
        Assert.Contains("too small", error.Message);
    }

    [Theory]
    [InlineData(19, 19, true)]
    [InlineData(18, 30, false)]
    [InlineData(28, 28, true)]
    [InlineData(32, 32, true)]
    public void AlexNet_fits_images_from_19_pixels_a_side(int height, int width, bool fits)
    {
        Assert.Equal(fits, AlexNet.Fits(height, width));
    }

    [Fact]
    public void AlexNet_dropout_acts_only_in_training_mode()
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        using var network = new AlexNet(1, 28, 28, 0.25);
        network.AddHead(2);
        var x = randn(8, 784);
        using var noGrad = no_grad();

        var evalA = network.Forward(x, 0);
        var evalB = network.Forward(x, 0);
        network.Training = true;
        var trainA = network.Forward(x, 0);
        var trainB = network.Forward(x, 0);

        Assert.Equal(0f, (evalA - evalB).abs().max().item<float>());
        Assert.True((trainA - trainB).abs().max().item<float>() > 0);
    }

    [Fact]
    public void AlexNet_batch_norm_uses_the_batchs_own_statistics()
    {
        // No running statistics: shifting and scaling the whole batch's inputs leaves conv1's normalised output,
        // and so the logits, nearly unchanged (bias-free convolutions are linear in the input).
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var network = new AlexNet(1, 28, 28, 0.25);
        network.AddHead(2);
        var x = randn(8, 784);
        using var noGrad = no_grad();

        var plain = network.Forward(x, 0);
        var scaled = network.Forward(x * 5, 0);

        Assert.True((plain - scaled).abs().max().item<float>() < 1e-3, "logits changed with the batch's scale");
    }

    [Fact]
    public void AlexNet_refuses_a_single_sample()
    {
        using var network = new AlexNet(1, 28, 28, 0.25);
        network.AddHead(2);
        using var x = randn(1, 784);

        Assert.Throws<ArgumentException>(() => network.Forward(x, 0));
    }

    [Fact]
    public void Model_spec_parses_the_architecture_and_width()
    {
        Assert.Equal(new ModelSpec(NetworkFamilies.AlexNet, ModelSpec.DefaultHidden, 0.25), ModelSpec.Parse("alexnet:0.25"));
        Assert.Equal("alexnet:0.25", ModelSpec.Parse("alexnet:0.25").Name);
        Assert.Equal("alexnet", ModelSpec.Parse("AlexNet").Name);
        Assert.Same(NetworkFamilies.Mlp, ModelSpec.Parse("mlp").Family);
        Assert.Throws<ArgumentException>(() => ModelSpec.Parse("alexnet:-1"));
        Assert.Throws<ArgumentException>(() => ModelSpec.Parse("resnet"));
    }

    [Fact]
    public void Model_spec_builds_an_alexnet_only_for_image_shapes()
    {
        var spec = ModelSpec.Parse("alexnet:0.25");
        using var network = spec.Create([1, 28, 28]);

        Assert.IsType<AlexNet>(network);
        Assert.Throws<ArgumentException>(() => spec.Create([784]));
    }

    [Fact]
    public void Checkpoint_round_trip_keeps_sgp_importances()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        var options = new LearnerOptions { Memory = new GpmOptions { Thresholds = [0.97], Projection = ProjectionKind.Sgp } };
        using var network = new AlexNet(1, 28, 28, 0.125);
        using var learner = new ContinualLearner(network, options, 0);
        network.AddHead(2);
        learner.TasksLearned = 1;
        learner.Memory.SetBasis(1, eye(72, 6, dtype: ScalarType.Float64));
        learner.Memory.SetImportance(1, tensor(new[] { 1.0, 0.9, 0.8, 0.5, 0.3, 0.2 }));

        var state = LearnerCheckpoint.Export(learner);
        using var copy = new AlexNet(1, 28, 28, 0.125);
        using var restored = new ContinualLearner(copy, options, 0);
        LearnerCheckpoint.Import(restored, [2], state);

        Assert.Equal(learner.Memory.Importance(1)!.data<double>().ToArray(), restored.Memory.Importance(1)!.data<double>().ToArray());
        Assert.Null(restored.Memory.Importance(0));
        foreach (var t in state.Values)
        {
            t.Dispose();
        }
    }

    [Theory]
    [InlineData(25, 10, 1, new[] { 10, 10, 5 })]
    [InlineData(21, 10, 2, new[] { 10, 11 })]
    [InlineData(21, 10, 1, new[] { 10, 10, 1 })]
    [InlineData(1, 10, 2, new[] { 1 })]
    public void A_tail_shorter_than_the_minimum_batch_joins_the_batch_before_it(int count, int size, int minimum, int[] lengths)
    {
        var batches = BatchRanges.Of(count, size, minimum).ToList();

        Assert.Equal(lengths, batches.Select(b => b.Length));
        Assert.Equal(Enumerable.Range(0, lengths.Length).Select(i => lengths.Take(i).Sum()), batches.Select(b => b.Start));
    }
}
