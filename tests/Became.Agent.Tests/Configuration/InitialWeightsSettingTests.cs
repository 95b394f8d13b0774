using Became.Agent.Configuration;
using Became.Core.Models;
using Became.Core.Serialization;
using static TorchSharp.torch;

namespace Became.Agent.Tests.Configuration;

/// <summary>Model:InitialWeights is checked at start-up against the configured architecture and input shape: the
/// validator reads the file and builds the network once, and names the first mismatch under the setting.</summary>
public sealed class InitialWeightsSettingTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("became-weights-").FullName;

    private string File(string name) => Path.Combine(_folder, name);

    private static AgentOptions Options(string architecture, int[] inputShape, string? initialWeights)
    {
        var options = new AgentOptions();
        options.Model.Architecture = architecture;
        options.Model.InputShape = inputShape;
        options.Model.InitialWeights = initialWeights;
        new AgentOptionsDefaults().PostConfigure(null, options);
        return options;
    }

    private static IReadOnlyList<string> Failures(AgentOptions options) =>
        new AgentOptionsValidator().Validate(null, options).Failures?.ToList() ?? [];

    /// <summary>The body of <paramref name="architecture"/>'s network for <paramref name="inputShape"/>, as a safetensors file.</summary>
    private string WriteBody(string name, string architecture, int[] inputShape, long seed = 3)
    {
        using var scope = NewDisposeScope();
        using var network = Options(architecture, inputShape, null).Model.CreateNetwork(CPU, seed);
        System.IO.File.WriteAllBytes(File(name), SafeTensorsFile.Write(network.SharedParameters.Concat(network.Buffers).Select(p => SafeTensorsFile.FromTensor(p.Name, p.Tensor)).ToList()));
        return File(name);
    }

    [Fact]
    public void A_file_of_the_configured_network_passes()
    {
        string path = WriteBody("alexnet.safetensors", "alexnet:0.125", [1, 28, 28]);

        Assert.Empty(Failures(Options("alexnet:0.125", [1, 28, 28], path)));
    }

    [Fact]
    public void A_file_of_another_width_is_refused_naming_the_tensor_and_both_shapes()
    {
        string path = WriteBody("wide.safetensors", "resnet18:0.5", [1, 28, 28]);

        var failure = Assert.Single(Failures(Options("resnet18:0.25", [1, 28, 28], path)));

        Assert.Equal($"Model:InitialWeights: initial weights {path}: conv1.weight is [10, 1, 3, 3] in the file but [5, 1, 3, 3] in resnet18:0.25 for input [1, 28, 28]", failure);
    }

    [Fact]
    public void A_file_for_another_input_shape_is_refused()
    {
        string path = WriteBody("mlp-784.safetensors", "mlp", [784]);

        var failure = Assert.Single(Failures(Options("mlp", [3, 32, 32], path)));

        Assert.Equal($"Model:InitialWeights: initial weights {path}: shared.0.weight is [100, 784] in the file but [100, 3072] in mlp [100, 100] for input [3, 32, 32]", failure);
    }

    [Fact]
    public void A_missing_file_is_refused()
    {
        string path = File("absent.safetensors");

        var failure = Assert.Single(Failures(Options("mlp", [784], path)));

        Assert.Equal($"Model:InitialWeights: initial weights {path}: does not exist", failure);
    }

    [Fact]
    public void A_file_that_is_not_safetensors_is_refused()
    {
        System.IO.File.WriteAllText(File("model.pt"), "PK\u0003\u0004 a torch.save zip");

        var failure = Assert.Single(Failures(Options("mlp", [784], File("model.pt"))));

        Assert.StartsWith($"Model:InitialWeights: initial weights {File("model.pt")}: is not a safetensors file: ", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_the_setting_nothing_is_read()
    {
        Assert.Null(new AgentOptions().Model.InitialWeights);
        Assert.Empty(Failures(Options("mlp", [784], null)));
        Assert.Empty(Failures(Options("mlp", [784], " ")));
    }

    [Fact]
    public void The_setting_is_a_known_key()
    {
        Assert.Contains("Model:InitialWeights", SettingKeys.Known);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
