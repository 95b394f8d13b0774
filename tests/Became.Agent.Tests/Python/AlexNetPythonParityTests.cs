using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Hosting;
using Became.Agent.Deployment;
using Became.Agent.Tests.Agent;
using Became.Core.Data;
using Became.Core.Serialization;
using Became.Core.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Agent.Tests.Python;

/// <summary>An AlexNet model file (width 0.125, every parameter perturbed so batch-norm affine terms matter) loaded
/// by examples/python/became_example.py predicts as the device's network does.</summary>
[Trait("Speed", "Slow")]
public sealed class AlexNetPythonParityTests(ITestOutputHelper output)
{
    private const int Inputs = 50;

    [Fact]
    public async Task Python_script_reproduces_an_alexnet_models_predictions()
    {
        await PythonExample.EnsureAvailableAsync();
        using var temp = new TempFolder();
        AgentOptions options;
        using (var host = AgentHost.Build(["--Model:Architecture=alexnet:0.125", "--Model:InputShape:0=1", "--Model:InputShape:1=28", "--Model:InputShape:2=28"]))
        {
            options = host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
        }

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
        }

        var (model, _) = ModelFiles.Write(learner, options, 1, 0, ["a", "b"]);
        await File.WriteAllBytesAsync(temp.File("model.safetensors"), model);
        var test = ImageClassificationDataset.Load().Test;
        byte[] pixels = Enumerable.Range(0, Inputs).SelectMany(i => test.Image(i).ToArray()).ToArray();
        await File.WriteAllBytesAsync(temp.File("x.safetensors"), SafeTensorsFile.Write([new SafeTensor("x", "U8", [Inputs, 28, 28], pixels)]));

        await PythonExample.RunScriptAsync("predict", "--model", temp.File("model.safetensors"), "--task", "b", "--inputs", temp.File("x.safetensors"), "--out", temp.File("p.json"));

        var x = tensor(pixels.Select(b => b / 255f).ToArray(), [Inputs, 784]).sub_(options.Model.NormalizationMean).div_(options.Model.NormalizationStd);
        float[] device;
        using (no_grad())
        {
            device = F.softmax(network.Forward(x, 1), 1).data<float>().ToArray();
        }

        using var fromPython = JsonDocument.Parse(await File.ReadAllTextAsync(temp.File("p.json")));
        float[] python = fromPython.RootElement.GetProperty("probabilities").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(p => p.GetSingle())).ToArray();
        Assert.Equal(device.Length, python.Length);
        double largest = device.Zip(python, (a, b) => (double)Math.Abs(a - b)).Max();
        output.WriteLine($"largest probability difference {largest:E2}");
        Assert.True(largest <= 1e-5, $"probabilities differ by up to {largest:E2}");
    }
}
