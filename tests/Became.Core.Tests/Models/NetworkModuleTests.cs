using Became.Core.Models;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Tests.Models;

/// <summary>The networks as TorchSharp modules: state-dict names from the module tree (the names model files have
/// always used), the body/head split, and loading a state dict written under those names.</summary>
public sealed class NetworkModuleTests
{
    private static readonly string[] AlexNetNames =
    [
        "conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias", "conv3.weight", "bn3.weight", "bn3.bias",
        "fc1.weight", "bn4.weight", "bn4.bias", "fc2.weight", "bn5.weight", "bn5.bias", "heads.0.weight", "heads.1.weight",
    ];

    [Fact]
    public void The_mlps_module_state_dict_has_the_model_files_names()
    {
        using var network = new MultiHeadMlp(12, [10, 8], seed: 1);
        network.AddHead(2);
        network.AddHead(3);

        string[] expected = ["shared.0.weight", "shared.1.weight", "heads.0.weight", "heads.1.weight"];
        Assert.Equal(expected, network.Module.state_dict().Keys);
        Assert.Equal(expected, network.Parameters.Select(p => p.Name));
        Assert.Equal(["shared.0.weight", "shared.1.weight"], network.SharedParameters.Select(p => p.Name));
        Assert.Equal(["shared.0.weight", "shared.1.weight"], network.SharedLayers.Select(l => l.Name));
        Assert.Equal(["heads.1.weight"], network.HeadParameters(1).Select(p => p.Name));
    }

    [Fact]
    public void The_alexnets_module_state_dict_has_the_model_files_names()
    {
        using var network = new AlexNet(1, 28, 28, 0.125, seed: 1);
        network.AddHead(2);
        network.AddHead(2);

        Assert.Equal(AlexNetNames, network.Module.state_dict().Keys);
        Assert.Equal(AlexNetNames, network.Parameters.Select(p => p.Name));
        Assert.All(network.SharedLayers, l => Assert.Same(network.Parameters.Single(p => p.Name == l.Name).Tensor, l.Weight));
    }

    [Fact]
    public void Features_then_the_head_is_the_forward_pass()
    {
        using var scope = NewDisposeScope();
        foreach (var network in Networks())
        {
            using var owned = network;
            using var noGrad = no_grad();
            var x = randn(4, 784, generator: new Generator(5));

            var direct = network.Forward(x, 1);
            var split = network.HeadLogits(network.Features(x), 1);

            Assert.Equal(direct.data<float>().ToArray(), split.data<float>().ToArray());
        }
    }

    [Fact]
    public void One_body_pass_gives_every_heads_logits_and_the_module_forward_sets_them_side_by_side()
    {
        using var scope = NewDisposeScope();
        foreach (var network in Networks())
        {
            using var owned = network;
            using var noGrad = no_grad();
            var x = randn(4, 784, generator: new Generator(6));

            var all = network.ForwardAllHeads(x);
            var joined = network.Module.forward(x);

            Assert.Equal(2, all.Count);
            for (int head = 0; head < 2; head++)
            {
                Assert.Equal(network.Forward(x, head).data<float>().ToArray(), all[head].data<float>().ToArray());
            }

            Assert.Equal([4L, network.HeadClasses.Sum()], joined.shape);
            Assert.Equal(all[1].data<float>().ToArray(), joined[.., 2..].contiguous().data<float>().ToArray());
        }
    }

    [Fact]
    public void A_state_dict_under_the_old_names_loads_into_a_fresh_network()
    {
        using var scope = NewDisposeScope();
        using var source = new AlexNet(1, 28, 28, 0.125, seed: 1);
        source.AddHead(2);
        source.AddHead(2);
        using var x = randn(4, 784, generator: new Generator(7));

        // The model file's tensors, as the agent wrote them before the networks were modules: by these names.
        var state = AlexNetNames.Zip(source.Parameters).ToDictionary(n => n.First, n => n.Second.Tensor.detach().clone());
        using var loaded = new AlexNet(1, 28, 28, 0.125, seed: 2);
        using var learner = new ContinualLearner(loaded, new LearnerOptions { Memory = new Became.Core.Projection.GpmOptions { Thresholds = [0.97] } }, 0);
        LearnerCheckpoint.Import(learner, [2, 2], state.ToDictionary(kv => LearnerCheckpoint.ModelPrefix + kv.Key, kv => kv.Value));
        using var viaModule = new AlexNet(1, 28, 28, 0.125, seed: 3);
        viaModule.AddHead(2);
        viaModule.AddHead(2);
        var (missing, unexpected) = viaModule.Module.load_state_dict(state);

        using var noGrad = no_grad();
        float[] expected = source.Forward(x, 1).data<float>().ToArray();
        Assert.Equal(expected, loaded.Forward(x, 1).data<float>().ToArray());
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        Assert.Equal(expected, viaModule.Forward(x, 1).data<float>().ToArray());
    }

    [Fact]
    public void A_network_starts_in_evaluation_mode()
    {
        foreach (var network in Networks())
        {
            using var owned = network;

            Assert.False(network.Training);
            network.Training = true;
            Assert.True(network.Training);
        }
    }

    private static IEnumerable<IContinualNetwork> Networks()
    {
        foreach (var network in new IContinualNetwork[] { new MultiHeadMlp(784, [10, 8], seed: 1), new AlexNet(1, 28, 28, 0.125, seed: 1) })
        {
            network.AddHead(2);
            network.AddHead(3);
            yield return network;
        }
    }
}
