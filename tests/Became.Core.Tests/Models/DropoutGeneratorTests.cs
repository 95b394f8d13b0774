using Became.Core.Models;
using static TorchSharp.torch;

namespace Became.Core.Tests.Models;

/// <summary>AlexNet's dropout masks come from the network's <see cref="IContinualNetwork.DropoutGenerator"/> when one
/// is set, so a job repeats itself whatever else draws from the global generator.</summary>
public sealed class DropoutGeneratorTests
{
    [Fact]
    public void Equally_seeded_dropout_generators_give_identical_training_forwards_despite_global_draws()
    {
        using var scope = NewDisposeScope();
        using var network = NewNetwork(training: true);
        using var x = Inputs();
        using var noGrad = no_grad();

        using var first = new Generator(42);
        network.DropoutGenerator = first;
        var a = network.Forward(x, 0).data<float>().ToArray();
        manual_seed(7);
        _ = rand(1000);
        using var second = new Generator(42);
        network.DropoutGenerator = second;
        var b = network.Forward(x, 0).data<float>().ToArray();

        Assert.Equal(a, b);
    }

    [Fact]
    public void A_dropout_generator_draws_a_fresh_mask_on_every_forward()
    {
        using var scope = NewDisposeScope();
        using var network = NewNetwork(training: true);
        using var generator = new Generator(42);
        network.DropoutGenerator = generator;
        using var x = Inputs();
        using var noGrad = no_grad();

        var a = network.Forward(x, 0);
        var b = network.Forward(x, 0);

        Assert.True((a - b).abs().max().item<float>() > 0);
    }

    [Fact]
    public void Without_a_dropout_generator_the_global_generator_drives_dropout()
    {
        using var scope = NewDisposeScope();
        using var network = NewNetwork(training: true);
        using var x = Inputs();
        using var noGrad = no_grad();

        manual_seed(9);
        var a = network.Forward(x, 0).data<float>().ToArray();
        manual_seed(9);
        var b = network.Forward(x, 0).data<float>().ToArray();

        Assert.Equal(a, b);
    }

    [Fact]
    public void A_dropout_generator_leaves_evaluation_mode_without_dropout()
    {
        using var scope = NewDisposeScope();
        using var network = NewNetwork(training: false);
        using var x = Inputs();
        using var noGrad = no_grad();
        var plain = network.Forward(x, 0).data<float>().ToArray();

        using var generator = new Generator(42);
        network.DropoutGenerator = generator;

        Assert.Equal(plain, network.Forward(x, 0).data<float>().ToArray());
    }

    // A small AlexNet with one head; its dropout is active in training mode.
    private static AlexNet NewNetwork(bool training)
    {
        var network = new AlexNet(1, 28, 28, 0.125, seed: 1);
        network.AddHead(2);
        network.Training = training;
        return network;
    }

    private static Tensor Inputs() => randn(6, 784, generator: new Generator(2));
}
