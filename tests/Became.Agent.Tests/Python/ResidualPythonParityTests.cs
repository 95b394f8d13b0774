using System.Runtime.InteropServices;
using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Hosting;
using Became.Core.Data;
using Became.Core.Models;
using Became.Core.Serialization;
using Became.Core.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Agent.Tests.Python;

/// <summary>The two ResNet-18s against examples/python/became_example.py: a model file written from the device's
/// network (every parameter perturbed, PreAct's running statistics moved by training-mode passes) predicts in
/// PyTorch as on the device, and a body from the script's <c>export-body</c> has the device's names and shapes and
/// gives the device's features.</summary>
[Trait("Speed", "Slow")]
public sealed class ResidualPythonParityTests(ITestOutputHelper output)
{
    private const int Inputs = 16;
    private const double Tolerance = 1e-5;

    [Fact]
    public Task Python_script_reproduces_a_resnet18_on_fashion_mnist_images() =>
        PredictionsMatchAsync("resnet18:0.25", [1, 28, 28], images: true, batches: [Inputs]);

    [Fact]
    public Task Python_script_reproduces_a_resnet18_on_colour_inputs() =>
        PredictionsMatchAsync("resnet18:0.25", [3, 32, 32], images: false, batches: [Inputs]);

    [Fact]
    public Task Python_script_reproduces_a_preact_resnet18_with_running_statistics_one_input_too() =>
        PredictionsMatchAsync("preact-resnet18:0.125", [3, 32, 32], images: false, batches: [Inputs, 1]);

    [Theory]
    [InlineData("resnet18:0.25", "resnet18", 0.25, new[] { 1, 28, 28 })]
    [InlineData("resnet18:0.25", "resnet18", 0.25, new[] { 3, 32, 32 })]
    [InlineData("preact-resnet18:0.125", "preact-resnet18", 0.125, new[] { 3, 32, 32 })]
    public async Task Python_export_body_has_the_devices_names_and_gives_its_features(string architecture, string kind, double width, int[] shape)
    {
        await PythonExample.EnsureAvailableAsync();
        using var temp = new TempFolder();
        var options = Options(architecture, shape);
        await PythonExample.RunScriptAsync(
            "export-body", "--architecture", kind, "--input-shape", string.Join(',', shape),
            "--width", width.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "--seed", "7", "--out", temp.File("body.safetensors"));

        using var scope = NewDisposeScope();
        using var network = options.Model.CreateNetwork();
        var body = SafeTensorsFile.Parse(await File.ReadAllBytesAsync(temp.File("body.safetensors")));
        var expected = network.SharedParameters.Concat(network.Buffers).ToArray();
        Assert.Equal(
            expected.Select(p => $"{p.Name} {p.Tensor.dtype} [{string.Join(", ", p.Tensor.shape)}]").Order(),
            body.Tensors.Select(t => $"{t.Name} {SafeTensorsFile.ToTensor(t).dtype} [{string.Join(", ", t.Shape)}]").Order());
        using (no_grad())
        {
            foreach (var p in expected)
            {
                p.Tensor.copy_(SafeTensorsFile.ToTensor(body.Find(p.Name)!));
            }
        }

        float[] x = RandomInputs(Inputs, shape, seed: 3);
        await WriteInputsAsync(temp.File("x.safetensors"), x, [Inputs, .. shape]);
        await PythonExample.RunScriptAsync(
            "features", "--model", temp.File("body.safetensors"), "--inputs", temp.File("x.safetensors"), "--out", temp.File("f.json"),
            "--mean", options.Model.NormalizationMean.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            "--std", options.Model.NormalizationStd.ToString("R", System.Globalization.CultureInfo.InvariantCulture));

        float[] device;
        using (no_grad())
        {
            device = network.Features(Normalised(x, Inputs, options)).data<float>().ToArray();
        }

        float[] python = ReadMatrix(await File.ReadAllTextAsync(temp.File("f.json")), "features");
        Assert.Equal(device.Length, python.Length);

        // Features are not bounded as probabilities are: the difference is measured against max(1, |feature|).
        double largest = device.Zip(python, (a, b) => Math.Abs(a - b) / Math.Max(1.0, Math.Abs(a))).Max();
        output.WriteLine($"{architecture} [{string.Join(", ", shape)}]: {device.Length / Inputs} features, largest difference {largest:E2} (relative beyond 1)");
        Assert.True(largest <= Tolerance, $"features differ by up to {largest:E2}");
    }

    private async Task PredictionsMatchAsync(string architecture, int[] shape, bool images, int[] batches)
    {
        await PythonExample.EnsureAvailableAsync();
        using var temp = new TempFolder();
        var options = Options(architecture, shape);

        using var scope = NewDisposeScope();
        manual_seed(11);
        using var network = options.Model.CreateNetwork();
        using var learner = new ContinualLearner(network, options.Training.ToLearnerOptions(options.Model), 0);
        network.AddHead(2);
        network.AddHead(3);
        using (no_grad())
        {
            foreach (var p in network.Parameters)
            {
                p.Tensor.add_(randn_like(p.Tensor).mul_(0.1));
            }

            if (network.Buffers.Count > 0)
            {
                // Running statistics away from 0 and 1: training-mode passes over shifted, scaled random inputs.
                network.Training = true;
                int features = shape.Aggregate(1, (a, b) => a * b);
                for (int pass = 0; pass < 5; pass++)
                {
                    network.Forward(randn(8, features).mul_(1.5).add_(0.5), 0).Dispose();
                }

                network.Training = false;
                Assert.Contains(network.Buffers, b => b.Name.EndsWith(".running_mean", StringComparison.Ordinal) && b.Tensor.abs().max().item<float>() > 0.01);
                Assert.Contains(network.Buffers, b => b.Name.EndsWith(".num_batches_tracked", StringComparison.Ordinal) && b.Tensor.item<long>() == 5);
            }
        }

        Assert.False(network.Training);
        var (model, _) = ModelFiles.Write(learner, options, 1, 0, ["a", "b"]);
        await File.WriteAllBytesAsync(temp.File("model.safetensors"), model);

        foreach (int n in batches)
        {
            float[] x;
            if (images)
            {
                var test = ImageClassificationDataset.Load().Test;
                byte[] pixels = Enumerable.Range(0, n).SelectMany(i => test.Image(i).ToArray()).ToArray();
                await File.WriteAllBytesAsync(temp.File("x.safetensors"), SafeTensorsFile.Write([new SafeTensor("x", "U8", [n, .. shape.Select(d => (long)d)], pixels)]));
                x = pixels.Select(b => b / 255f).ToArray();
            }
            else
            {
                x = RandomInputs(n, shape, seed: 5 + n);
                await WriteInputsAsync(temp.File("x.safetensors"), x, [n, .. shape]);
            }

            await PythonExample.RunScriptAsync("predict", "--model", temp.File("model.safetensors"), "--task", "b", "--inputs", temp.File("x.safetensors"), "--out", temp.File("p.json"));

            float[] device;
            using (no_grad())
            {
                device = F.softmax(network.Forward(Normalised(x, n, options), 1), 1).data<float>().ToArray();
            }

            float[] python = ReadMatrix(await File.ReadAllTextAsync(temp.File("p.json")), "probabilities");
            Assert.Equal(device.Length, python.Length);
            double largest = device.Zip(python, (a, b) => (double)Math.Abs(a - b)).Max();
            output.WriteLine($"{architecture} [{string.Join(", ", shape)}], {n} input(s): largest probability difference {largest:E2}");
            Assert.True(largest <= Tolerance, $"{n} input(s): probabilities differ by up to {largest:E2}");
        }
    }

    private static AgentOptions Options(string architecture, int[] shape)
    {
        string[] args = [$"--Model:Architecture={architecture}", .. shape.Select((d, i) => $"--Model:InputShape:{i}={d}")];
        using var host = AgentHost.Build(args);
        return host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
    }

    /// <summary>Inputs in 0..1 as the device scales them, flattened: [n, C*H*W] normalised with the settings.</summary>
    private static Tensor Normalised(float[] x, int n, AgentOptions options) =>
        tensor(x, [n, x.Length / n]).sub_(options.Model.NormalizationMean).div_(options.Model.NormalizationStd);

    private static float[] RandomInputs(int n, int[] shape, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n * shape.Aggregate(1, (a, b) => a * b)).Select(_ => random.NextSingle()).ToArray();
    }

    private static Task WriteInputsAsync(string path, float[] x, int[] shape) =>
        File.WriteAllBytesAsync(path, SafeTensorsFile.Write([new SafeTensor("x", "F32", shape.Select(d => (long)d).ToArray(), MemoryMarshal.AsBytes(x.AsSpan()).ToArray())]));

    private static float[] ReadMatrix(string json, string property)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty(property).EnumerateArray().SelectMany(r => r.EnumerateArray().Select(p => p.GetSingle())).ToArray();
    }
}
