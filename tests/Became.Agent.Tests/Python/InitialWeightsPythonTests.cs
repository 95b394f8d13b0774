using System.Globalization;
using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Hosting;
using Became.Core.Data;
using Became.Core.Models;
using Became.Core.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Became.Agent.Tests.Python;

/// <summary>Initial weights from PyTorch: a body that examples/python/became_example.py builds from its own module
/// definitions (Debian's python3-torch) and exports passes the agent's start-up check for the same
/// Model:Architecture and Model:InputShape, loads into the device's network and gives the body features PyTorch gives.</summary>
[Trait("Speed", "Slow")]
public sealed class InitialWeightsPythonTests(ITestOutputHelper output)
{
    private const int Inputs = 8;

    /// <summary>Largest feature difference allowed: float32 with two libtorch builds (PyTorch 1.13 against the device's).</summary>
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("resnet18", 0.25, "3,32,32")]
    [InlineData("preact-resnet18", 0.125, "3,32,32")]
    [InlineData("alexnet", 0.125, "1,28,28")]
    [InlineData("mlp", 1.0, "784")]
    public async Task A_body_exported_by_pytorch_loads_into_the_device_network_and_gives_pytorchs_features(string kind, double width, string inputShape)
    {
        await PythonExample.EnsureAvailableAsync();
        using var temp = new TempFolder();
        string body = temp.File("body.safetensors");
        string w = width.ToString("R", CultureInfo.InvariantCulture);
        await PythonExample.RunScriptAsync("export-body", "--architecture", kind, "--input-shape", inputShape, "--width", w, "--seed", "7", "--out", body);

        // The agent's own settings with the file: the start-up check passes (Value validates).
        int[] shape = inputShape.Split(',').Select(d => int.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        string architecture = kind == "mlp" ? kind : $"{kind}:{w}";
        AgentOptions options;
        using (var host = AgentHost.Build([$"--Model:Architecture={architecture}", .. shape.Select((d, i) => $"--Model:InputShape:{i}={d}"), $"--Model:InitialWeights={body}"]))
        {
            options = host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
        }

        byte[] pixels = Pixels(shape.Aggregate(1, (a, b) => a * b));
        string inputs = temp.File("x.safetensors");
        await File.WriteAllBytesAsync(inputs, SafeTensorsFile.Write([new SafeTensor("x", SafeTensorDType.U8, [Inputs, .. shape.Select(d => (long)d)], pixels)]));
        string mean = options.Model.NormalizationMean.ToString("R", CultureInfo.InvariantCulture), std = options.Model.NormalizationStd.ToString("R", CultureInfo.InvariantCulture);
        await PythonExample.RunScriptAsync("features", "--model", body, "--inputs", inputs, "--mean", mean, "--std", std, "--out", temp.File("features.json"));

        using var scope = NewDisposeScope();
        using var network = options.Model.CreateNetwork(CPU, 0);
        var load = InitialWeights.Read(body).LoadInto(network, options.Model.NetworkDescription);
        Assert.Equal(network.SharedParameters.Count + network.Buffers.Count, load.BodyTensors);
        var x = tensor(pixels.Select(b => b / 255f).ToArray(), [Inputs, pixels.Length / Inputs]).sub_(options.Model.NormalizationMean).div_(options.Model.NormalizationStd);
        float[] device;
        using (no_grad())
        {
            device = network.Features(x).contiguous().data<float>().ToArray();
        }

        using var fromPython = JsonDocument.Parse(await File.ReadAllTextAsync(temp.File("features.json")));
        float[] python = fromPython.RootElement.GetProperty("features").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
        Assert.Equal(device.Length, python.Length);
        double largest = device.Zip(python, (a, b) => (double)Math.Abs(a - b)).Max();
        double scale = python.Max(v => Math.Abs((double)v));
        output.WriteLine($"{architecture} {inputShape}: {Inputs} x {device.Length / Inputs} features, largest |PyTorch - Became| {largest:E2} (largest feature {scale:F3})");
        Assert.True(scale > 0, "the body's features are all zero: the comparison would prove nothing");
        Assert.True(largest <= Tolerance, $"{architecture}: features differ by up to {largest:E2}");
    }

    /// <summary>Inputs as uint8 pixels [Inputs, features]: Fashion-MNIST test images where they are 28 x 28, else a
    /// seeded pattern of the size.</summary>
    private static byte[] Pixels(int features)
    {
        if (features == 784)
        {
            var test = ImageClassificationDataset.Load().Test;
            return Enumerable.Range(0, Inputs).SelectMany(i => test.Image(i).ToArray()).ToArray();
        }

        var bytes = new byte[Inputs * features];
#pragma warning disable CA5394 // Test inputs, not security.
        new Random(3).NextBytes(bytes);
#pragma warning restore CA5394
        return bytes;
    }
}
