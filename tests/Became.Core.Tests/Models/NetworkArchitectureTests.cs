using Became.Core.Models;

namespace Became.Core.Tests.Models;

/// <summary>The model file's <c>architecture</c> metadata, now written by the networks themselves, is byte for byte
/// what the agent wrote before (the Python example and older readers parse it).</summary>
public sealed class NetworkArchitectureTests
{
    [Fact]
    public void Mlp_describes_itself_as_the_model_file_always_did()
    {
        using var network = ModelSpec.Mlp([100, 100]).Create([784], seed: 1);
        network.AddHead(2);
        network.AddHead(3);

        Assert.Equal(
            """{"kind":"mlp","inputShape":[784],"hiddenSizes":[100,100],"activation":"relu","bias":false,"heads":[2,3]}""",
            network.Architecture.ToJson());
    }

    [Fact]
    public void Mlp_keeps_the_input_shape_it_was_built_for()
    {
        using var network = ModelSpec.Mlp([8]).Create([1, 28, 28], seed: 1);

        Assert.Equal("""{"kind":"mlp","inputShape":[1,28,28],"hiddenSizes":[8],"activation":"relu","bias":false,"heads":[]}""", network.Architecture.ToJson());
    }

    [Fact]
    public void AlexNet_describes_its_kernels_and_norm_as_the_model_file_always_did()
    {
        using var network = ModelSpec.Parse("alexnet:0.25").Create([28, 28], seed: 1);
        network.AddHead(2);

        Assert.Equal(
            """{"kind":"alexnet","inputShape":[28,28],"widthMultiplier":0.25,"channels":[16,32,64],"kernels":[4,3,2],"hiddenSize":512,"activation":"relu","bias":false,"batchNorm":"batch statistics (no running statistics), eps 1e-5","heads":[2]}""",
            network.Architecture.ToJson());
    }

    [Fact]
    public void AlexNet_at_full_width_writes_width_multiplier_1()
    {
        using var network = ModelSpec.Parse("alexnet").Create([3, 32, 32], seed: 1);

        Assert.StartsWith("""{"kind":"alexnet","inputShape":[3,32,32],"widthMultiplier":1,"channels":[64,128,256],"kernels":[4,3,2],"hiddenSize":2048,""", network.Architecture.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_input_shape_that_does_not_fit_the_network_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new MultiHeadMlp(784, [10]) { InputShape = [28, 27] });
        Assert.Throws<ArgumentException>(() => new AlexNet(3, 32, 32, 0.25) { InputShape = [32, 32] });
    }
}
