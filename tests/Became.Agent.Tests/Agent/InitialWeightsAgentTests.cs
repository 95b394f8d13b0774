using System.Security.Cryptography;
using System.Text.Json;
using Became.Agent.Configuration;
using Became.Core.Serialization;
using static Became.Testing.BecameCommand;
using static TorchSharp.torch;

namespace Became.Agent.Tests.Agent;

/// <summary>Model:InitialWeights in a running agent: a file that does not fit is refused by `became run` at start-up
/// (one line, exit 2); a good one is the body of the device's first task, recorded in its model file, and ignored
/// once the device has a version (the learned body continues).</summary>
[Trait("Speed", "Slow")]
public sealed class InitialWeightsAgentTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);
    private readonly string _folder = Directory.CreateTempSubdirectory("became-weights-").FullName;

    [Fact]
    public async Task Became_run_refuses_a_file_with_one_wrong_shape_in_one_line_naming_the_tensor_and_exits_2()
    {
        string[] model = ["--Model:Architecture=resnet18:0.25", "--Model:InputShape:0=1", "--Model:InputShape:1=28", "--Model:InputShape:2=28"];
        string path = Path.Combine(_folder, "w.safetensors");
        await File.WriteAllBytesAsync(path, Body("resnet18:0.25", [1, 28, 28], seed: 1, replace: ("layer2.0.conv1.weight", [10, 10, 3, 3])));
        string data = Directory.CreateDirectory(Path.Combine(_folder, "data")).FullName;

        var result = await RunProcessAsync(["run", "--data-dir", data, "--embedded-port", "0", .. model, $"--Model:InitialWeights={path}"]);

        AssertUsageError(result, "Model:InitialWeights", path, "layer2.0.conv1.weight is [10, 10, 3, 3] in the file but [10, 5, 3, 3] in resnet18:0.25");
        Assert.Empty(Directory.GetFiles(data, "*.db"));
    }

    [Fact]
    public async Task The_first_task_starts_from_the_files_body_and_a_later_one_from_the_learned_body()
    {
        string path = Path.Combine(_folder, "mlp.safetensors");
        byte[] first = Body("mlp", [784], seed: 42);
        await File.WriteAllBytesAsync(path, first);

        // A learning rate so small that no float32 weight moves: the versions' bodies show where they started.
        await using var agent = await AgentHarness.StartAsync(epochs: 1, extraArgs: [$"--Model:InitialWeights={path}", "--Training:LearningRate=1e-12"]);
        await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 200));
        await agent.WaitForAsync("model.deployed", "t0", Patience);

        var v1 = SafeTensorsFile.Parse(agent.Store.Blobs.Get(agent.Store.FindVersion(1)!.ModelBlob));
        var fromFile = SafeTensorsFile.Parse(first);
        var fresh = SafeTensorsFile.Parse(Body("mlp", [784], seed: 0));
        foreach (string name in new[] { "shared.0.weight", "shared.1.weight" })
        {
            Assert.True(Difference(v1, fromFile, name) <= 1e-6, $"{name}: version 1 is {Difference(v1, fromFile, name):E2} from the file's");
            Assert.True(Difference(v1, fresh, name) > 1e-2, $"{name}: version 1 is the default initialisation");
        }

        using (var recorded = JsonDocument.Parse(v1.Metadata["initialWeights"]))
        {
            Assert.Equal("mlp.safetensors", recorded.RootElement.GetProperty("file").GetString());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(first)), recorded.RootElement.GetProperty("sha256").GetString());
        }

        // Other weights under the same name now: the device has a version, so its learned body continues.
        await File.WriteAllBytesAsync(path, Body("mlp", [784], seed: 43));
        await agent.PublishTaskAsync("t1", AgentHarness.SplitTask(1, 200));
        await agent.WaitForAsync("model.deployed", "t1", Patience);

        var v2 = SafeTensorsFile.Parse(agent.Store.Blobs.Get(agent.Store.FindVersion(2)!.ModelBlob));
        Assert.True(Difference(v2, v1, "shared.0.weight") <= 1e-6, "version 2 did not continue from version 1's body");
        Assert.False(v2.Metadata.ContainsKey("initialWeights"));
    }

    /// <summary>The body of a network built as the agent builds it, optionally with one tensor replaced by zeros of another shape.</summary>
    private static byte[] Body(string architecture, int[] inputShape, long seed, (string Name, long[] Shape)? replace = null)
    {
        var options = new AgentOptions();
        options.Model.Architecture = architecture;
        options.Model.InputShape = inputShape;
        new AgentOptionsDefaults().PostConfigure(null, options);
        using var scope = NewDisposeScope();
        using var network = options.Model.CreateNetwork(CPU, seed);
        return SafeTensorsFile.Write(network.SharedParameters.Concat(network.Buffers)
            .Select(p => replace is { } r && r.Name == p.Name ? SafeTensorsFile.FromTensor(p.Name, zeros(r.Shape)) : SafeTensorsFile.FromTensor(p.Name, p.Tensor))
            .ToList());
    }

    private static double Difference(SafeTensorsFile a, SafeTensorsFile b, string name)
    {
        using var scope = NewDisposeScope();
        return (SafeTensorsFile.ToTensor(a.Find(name)!) - SafeTensorsFile.ToTensor(b.Find(name)!)).abs().max().item<float>();
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
