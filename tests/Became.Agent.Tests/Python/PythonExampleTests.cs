using Microsoft.Extensions.DependencyInjection;
using System.Text.Json;
using Became.Agent.Tests.Agent;
using Became.Core.Data;
using Became.Core.Serialization;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Agent.Tests.Python;

/// <summary>examples/python/became_example.py against a real agent: the PyTorch user's view of the device.</summary>
[Trait("Speed", "Slow")]
public sealed class PythonExampleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);
    private static readonly Lazy<ImageClassificationDataset> Dataset = new(() => ImageClassificationDataset.Load());
    private const int Inputs = 50;

    [Fact]
    public async Task Python_script_reproduces_the_device_predictions()
    {
        await PythonExample.EnsureAvailableAsync();
        using var temp = new TempFolder();
        await using var agent = await AgentHarness.StartAsync();
        await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 300));
        await agent.PublishTaskAsync("t1", AgentHarness.SplitTask(1, 300));
        await agent.WaitForAsync("model.deployed", "t1", Patience);

        var record = agent.Store.Deployed()!;
        byte[] modelFile = agent.Store.Blobs.Get(record.ModelBlob);
        await File.WriteAllBytesAsync(temp.File("model.safetensors"), modelFile);
        var deployed = agent.Deployed.Current;
        Assert.Equal(record.Version, deployed.Version);

        for (int head = 0; head < deployed.TaskIds.Count; head++)
        {
            string taskId = deployed.TaskIds[head];
            byte[] pixels = TestImagesOfSplitTask(head);
            string inputs = temp.File($"inputs-{taskId}.safetensors");
            string predictions = temp.File($"predictions-{taskId}.json");
            await File.WriteAllBytesAsync(inputs, SafeTensorsFile.Write([new SafeTensor("x", "U8", [Inputs, 28, 28], pixels)]));

            await PythonExample.RunScriptAsync("predict", "--model", temp.File("model.safetensors"), "--task", taskId, "--inputs", inputs, "--out", predictions);

            using var fromPython = JsonDocument.Parse(await File.ReadAllTextAsync(predictions));
            long[] pythonPredictions = fromPython.RootElement.GetProperty("predictions").EnumerateArray().Select(p => p.GetInt64()).ToArray();
            float[][] pythonProbabilities = fromPython.RootElement.GetProperty("probabilities").EnumerateArray()
                .Select(row => row.EnumerateArray().Select(p => p.GetSingle()).ToArray()).ToArray();
            // The agent's own inference path (the one the infer topic and POST /infer use).
            var answer = agent.Host.Services.GetRequiredService<Became.Agent.Serving.InferenceService>().Predict(taskId, pixels.Select(b => b / 255f).ToArray(), Inputs);
            var (devicePredictions, deviceProbabilities) = (answer.Predictions, answer.Probabilities);
            Assert.Equal(deployed.Version, answer.Version);

            Assert.Equal(devicePredictions, pythonPredictions);
            Assert.Equal(deviceProbabilities.Length, pythonProbabilities.Length);
            double largest = 0;
            for (int i = 0; i < deviceProbabilities.Length; i++)
            {
                Assert.Equal(deviceProbabilities[i].Length, pythonProbabilities[i].Length);
                for (int c = 0; c < deviceProbabilities[i].Length; c++)
                {
                    largest = Math.Max(largest, Math.Abs(deviceProbabilities[i][c] - pythonProbabilities[i][c]));
                }
            }

            output.WriteLine($"{taskId}: {Inputs} predictions equal; largest probability difference {largest:E2}");
            Assert.True(largest <= 1e-5, $"{taskId}: probabilities differ by up to {largest:E2}");
        }
    }

    [Fact]
    public async Task Python_user_can_publish_a_task_the_agent_learns()
    {
        await PythonExample.EnsureAvailableAsync();
        using var temp = new TempFolder();
        await using var agent = await AgentHarness.StartAsync();
        string data = ImageClassificationDataset.FashionMnistDirectory;

        await PythonExample.RunScriptAsync(
            "make-task", "--images", Path.Combine(data, "train-images-idx3-ubyte.gz"), "--labels", Path.Combine(data, "train-labels-idx1-ubyte.gz"),
            "--classes", "4,5", "--samples", "300", "--out", temp.File("task.safetensors"));
        await PythonExample.RunScriptAsync(
            "publish", "--broker", $"{agent.BrokerHost}:{agent.BrokerPort}", "--device", agent.DeviceId, "--task-id", "from-python", "--file", temp.File("task.safetensors"));

        var deployed = await agent.WaitForAsync("model.deployed", "from-python", Patience);
        Assert.Equal(1, deployed.GetProperty("version").GetInt32());
        Assert.Equal(["from-python"], agent.Deployed.Current.TaskIds);
    }

    /// <summary>The first test images of split-fmnist task t (classes 2t, 2t+1) as uint8 [Inputs, 28, 28].</summary>
    private static byte[] TestImagesOfSplitTask(int task)
    {
        var test = Dataset.Value.Test;
        return Enumerable.Range(0, test.Count).Where(i => test.Label(i) / 2 == task).Take(Inputs)
            .SelectMany(i => test.Image(i).ToArray()).ToArray();
    }

}
