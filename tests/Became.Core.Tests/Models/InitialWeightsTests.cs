using Became.Core.Models;
using Became.Core.Serialization;
using static TorchSharp.torch;

namespace Became.Core.Tests.Models;

/// <summary>Initial weights for a network's body: a safetensors state dict written by the project's own writer, loaded
/// exactly into a fresh network, or refused before anything is copied with one line naming the first mismatch.</summary>
public sealed class InitialWeightsTests
{
    private const string FileName = "w.safetensors";

    public static TheoryData<string, long[]> Networks => new()
    {
        { "alexnet:0.125", [1, 28, 28] },
        { "resnet18:0.25", [1, 28, 28] },
        { "preact-resnet18:0.125", [3, 16, 16] },
        { "mlp", [784] },
    };

    [Theory]
    [MemberData(nameof(Networks))]
    public void A_body_written_from_one_network_loads_exactly_into_another_and_gives_its_features(string model, long[] shape)
    {
        using var scope = NewDisposeScope();
        var spec = ModelSpec.Parse(model);
        using var source = spec.Create(shape, seed: 1);
        source.AddHead(3);
        Perturb(source);
        using var target = spec.Create(shape, seed: 2);
        var x = randn(4, shape.Aggregate(1L, (a, b) => a * b), generator: new Generator(5));
        using (no_grad())
        {
            Assert.False(Same(target.Features(x), source.Features(x)), "the two seeds should give different bodies");
        }

        var load = InitialWeights.Parse(Body(source), FileName).LoadInto(target, spec.Name);

        Assert.Equal(source.SharedParameters.Count + source.Buffers.Count, load.BodyTensors);
        Assert.Equal(source.HeadParameters(0).Count, load.IgnoredHeadTensors);
        Assert.Equal(0, target.HeadCount);
        foreach (var (a, b) in source.SharedParameters.Concat(source.Buffers).Zip(target.SharedParameters.Concat(target.Buffers)))
        {
            Assert.Equal(a.Name, b.Name);
            Assert.True(Same(a.Tensor, b.Tensor), $"{a.Name} differs after the load");
        }

        using (no_grad())
        {
            Assert.True(Same(target.Features(x), source.Features(x)), "features differ after the load");
        }
    }

    [Fact]
    public void A_tensor_of_another_shape_is_named_with_both_shapes_and_nothing_is_copied()
    {
        using var scope = NewDisposeScope();
        var spec = ModelSpec.Parse("resnet18:0.5");
        using var source = spec.Create([1, 28, 28], seed: 1);
        using var target = spec.Create([1, 28, 28], seed: 2);
        using var before = target.SharedParameters[0].Tensor.clone();
        var tensors = Entries(source).Select(t => t.Name == "layer2.0.conv1.weight" ? Zeros(t.Name, [20, 20, 3, 3]) : t).ToList();

        var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Parse(SafeTensorsFile.Write(tensors), FileName).LoadInto(target, spec.Name));

        Assert.Equal("initial weights w.safetensors: layer2.0.conv1.weight is [20, 20, 3, 3] in the file but [20, 10, 3, 3] in resnet18:0.5", error.Message);
        Assert.True(Same(target.SharedParameters[0].Tensor, before), "conv1.weight (checked before the bad tensor) was copied before the check failed");
    }

    [Fact]
    public void A_body_tensor_the_file_lacks_is_named()
    {
        using var scope = NewDisposeScope();
        using var network = ModelSpec.Parse("resnet18:0.25").Create([1, 28, 28], seed: 1);
        var tensors = Entries(network).Where(t => t.Name != "bn1.bias").ToList();

        var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Parse(SafeTensorsFile.Write(tensors), FileName).Check(network, "resnet18:0.25"));

        Assert.Equal("initial weights w.safetensors: lacks bn1.bias", error.Message);
    }

    [Fact]
    public void A_tensor_the_body_has_no_place_for_is_named()
    {
        using var scope = NewDisposeScope();
        using var network = ModelSpec.Parse("alexnet:0.125").Create([1, 28, 28], seed: 1);
        var tensors = Entries(network).Append(Zeros("foo.weight", [2, 2])).ToList();

        var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Parse(SafeTensorsFile.Write(tensors), FileName).Check(network, "alexnet:0.125"));

        Assert.Equal("initial weights w.safetensors: has unknown tensor foo.weight (alexnet:0.125 has no such body tensor)", error.Message);
    }

    [Fact]
    public void A_parameter_in_half_precision_is_refused_naming_both_dtypes()
    {
        using var scope = NewDisposeScope();
        using var network = ModelSpec.Parse("resnet18:0.25").Create([1, 28, 28], seed: 1);
        var tensors = Entries(network).Select(t => t.Name == "conv1.weight" ? SafeTensorsFile.FromTensor(t.Name, SafeTensorsFile.ToTensor(t).to(ScalarType.Float16)) : t).ToList();

        var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Parse(SafeTensorsFile.Write(tensors), FileName).Check(network, "resnet18:0.25"));

        Assert.Equal("initial weights w.safetensors: conv1.weight is F16; the network's is F32", error.Message);
    }

    [Fact]
    public void A_batch_counter_stored_as_float_is_refused_since_the_network_keeps_it_as_int64()
    {
        using var scope = NewDisposeScope();
        using var network = ModelSpec.Parse("preact-resnet18:0.125").Create([3, 16, 16], seed: 1);
        var tensors = Entries(network).Select(t => t.Name == "bn_last.num_batches_tracked" ? SafeTensorsFile.FromTensor(t.Name, SafeTensorsFile.ToTensor(t).to(ScalarType.Float32)) : t).ToList();

        var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Parse(SafeTensorsFile.Write(tensors), FileName).Check(network, "preact-resnet18:0.125"));

        Assert.Equal("initial weights w.safetensors: bn_last.num_batches_tracked is F32; the network's is I64", error.Message);
    }

    [Fact]
    public void A_non_finite_weight_is_refused()
    {
        using var scope = NewDisposeScope();
        using var network = ModelSpec.Parse("mlp").Create([784], seed: 1);
        var tensors = Entries(network).Select(t => t.Name == "shared.1.weight" ? SafeTensorsFile.FromTensor(t.Name, full(t.Shape, float.NaN)) : t).ToList();

        var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Parse(SafeTensorsFile.Write(tensors), FileName).Check(network, "mlp"));

        Assert.Equal("initial weights w.safetensors: shared.1.weight holds a NaN or an infinity", error.Message);
    }

    [Fact]
    public void Head_entries_of_any_shape_are_ignored_counted_and_leave_the_networks_heads_alone()
    {
        using var scope = NewDisposeScope();
        var spec = ModelSpec.Parse("mlp");
        using var source = spec.Create([784], seed: 1);
        using var target = spec.Create([784], seed: 2);
        target.AddHead(2);
        using var head = target.HeadParameters(0)[0].Tensor.clone();
        var tensors = Entries(source).Append(Zeros("heads.0.weight", [7, 100])).Append(Zeros("heads.1.weight", [3, 3])).ToList();

        var load = InitialWeights.Parse(SafeTensorsFile.Write(tensors), FileName).LoadInto(target, spec.Name);

        Assert.Equal(new InitialWeightsLoad(2, 2), load);
        Assert.True(Same(target.HeadParameters(0)[0].Tensor, head), "the network's own head was overwritten");
        Assert.True(Same(target.SharedParameters[0].Tensor, source.SharedParameters[0].Tensor));
    }

    [Fact]
    public void A_truncated_file_is_one_clear_error_naming_the_file()
    {
        using var scope = NewDisposeScope();
        using var network = ModelSpec.Parse("mlp").Create([784], seed: 1);
        byte[] whole = SafeTensorsFile.Write(Entries(network));
        string path = Path.Combine(Directory.CreateTempSubdirectory("became-weights-").FullName, FileName);
        try
        {
            File.WriteAllBytes(path, whole[..(whole.Length / 2)]);

            var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Read(path));

            Assert.StartsWith($"initial weights {path}: is not a safetensors file: ", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', error.Message);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void Bytes_that_are_no_safetensors_file_are_one_clear_error()
    {
        var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Parse("not a model"u8.ToArray(), FileName));

        Assert.StartsWith("initial weights w.safetensors: is not a safetensors file: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_says_so()
    {
        string path = Path.Combine(Path.GetTempPath(), "became-no-such-" + Guid.NewGuid().ToString("N"), FileName);

        var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Read(path));

        Assert.Equal($"initial weights {path}: does not exist", error.Message);
    }

    [Fact]
    public void The_files_sha256_is_its_bytes_hash()
    {
        using var scope = NewDisposeScope();
        using var network = ModelSpec.Parse("mlp").Create([784], seed: 1);
        byte[] bytes = SafeTensorsFile.Write(Entries(network));

        var weights = InitialWeights.Parse(bytes, FileName);

        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), weights.Sha256);
        Assert.Equal(0, weights.HeadTensors);
    }

    /// <summary>Every parameter and buffer of the network as the project writes them (heads included, if any).</summary>
    private static List<SafeTensor> Entries(IContinualNetwork network) =>
        network.Parameters.Concat(network.Buffers).Select(p => SafeTensorsFile.FromTensor(p.Name, p.Tensor)).ToList();

    private static byte[] Body(IContinualNetwork network) => SafeTensorsFile.Write(Entries(network));

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static SafeTensor Zeros(string name, long[] shape) => SafeTensorsFile.FromTensor(name, zeros(shape));

    /// <summary>Moves every batch-norm affine term and running statistic off its default, so the load must carry them.</summary>
    private static void Perturb(IContinualNetwork network)
    {
        using var noGrad = no_grad();
        var generator = new Generator(3);
        foreach (var p in network.SharedParameters.Where(p => p.Tensor.dim() == 1))
        {
            p.Tensor.add_(randn(p.Tensor.shape, generator: generator).mul_(0.1));
        }

        foreach (var b in network.Buffers)
        {
            if (b.Name.EndsWith("running_mean", StringComparison.Ordinal))
            {
                b.Tensor.add_(randn(b.Tensor.shape, generator: generator).mul_(0.1));
            }
            else if (b.Name.EndsWith("running_var", StringComparison.Ordinal))
            {
                b.Tensor.add_(rand(b.Tensor.shape, generator: generator));
            }
            else
            {
                b.Tensor.fill_(7);
            }
        }
    }
}
