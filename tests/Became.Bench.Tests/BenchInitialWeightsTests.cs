using System.Security.Cryptography;
using System.Text.Json;
using Became.Bench;
using Became.Core.Models;
using Became.Core.Native;
using Became.Core.Serialization;
using static TorchSharp.torch;

namespace Became.Bench.Tests;

/// <summary><c>became bench --initial-weights FILE</c>: checked once before any training (a mismatch is one line,
/// exit 2), every run's body starts from it, and the report's protocol records its name and sha256.</summary>
public sealed class BenchInitialWeightsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("became-bench-weights-").FullName;

    public BenchInitialWeightsTests() => TorchRuntime.Initialize();

    [Fact]
    public void The_flag_is_parsed_and_absent_by_default()
    {
        Assert.Null(BenchOptions.Parse([]).InitialWeightsPath);
        Assert.Equal("w.safetensors", BenchOptions.Parse(["--initial-weights", "w.safetensors"]).InitialWeightsPath);
    }

    [Fact]
    public void A_file_that_does_not_fit_the_model_stops_the_bench_before_training_with_one_line_and_exit_2()
    {
        string path = Write("alexnet.safetensors", Body("alexnet:0.25", [1, 28, 28], zero: false));
        using var output = new StringWriter();
        using var error = new StringWriter();

        int code = BenchCommand.Run(["--model", "alexnet:0.125", "--methods", "finetune", "--seeds", "0", "--tasks", "1", "--epochs", "1", "--initial-weights", path], output, error, CancellationToken.None);

        Assert.Equal(2, code);
        string line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), l => l.StartsWith("became bench:", StringComparison.Ordinal));
        Assert.Equal($"became bench: initial weights {path}: conv1.weight is [16, 1, 4, 4] in the file but [8, 1, 4, 4] in alexnet:0.125", line);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("seed 0:", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public void Every_run_starts_from_the_files_body_and_the_protocol_records_it()
    {
        // An all-zero MLP body gives zero features, so its heads see nothing and learn nothing: every prediction is
        // class 0, exactly half of split-fmnist's first test set. A default-initialised body scores far above that.
        byte[] body = Body("mlp", [784], zero: true);
        string path = Write("zero.safetensors", body);
        string json = Path.Combine(_folder, "report.json");
        using var output = new StringWriter();
        using var error = new StringWriter();

        int code = BenchCommand.Run(["--methods", "finetune", "--seeds", "0", "--tasks", "1", "--epochs", "1", "--train-per-task", "500", "--initial-weights", path, "--json", json], output, error, CancellationToken.None);

        Assert.True(code == 0, error.ToString());
        using var report = JsonDocument.Parse(File.ReadAllText(json));
        var recorded = report.RootElement.GetProperty("protocol").GetProperty("initialWeights");
        Assert.Equal("zero.safetensors", recorded.GetProperty("file").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(body)), recorded.GetProperty("sha256").GetString());
        double acc = report.RootElement.GetProperty("runs")[0].GetProperty("acc").GetDouble();
        Assert.Equal(50.0, acc, 6);
    }

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A network's body as safetensors, with its weights or all zeros, and a head the bench must ignore.</summary>
    private static byte[] Body(string model, long[] shape, bool zero)
    {
        using var scope = NewDisposeScope();
        using var network = ModelSpec.Parse(model).Create(shape, seed: 1);
        network.AddHead(2);
        return SafeTensorsFile.Write(network.Parameters.Concat(network.Buffers)
            .Select(p => SafeTensorsFile.FromTensor(p.Name, zero ? zeros_like(p.Tensor) : p.Tensor))
            .ToList());
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
