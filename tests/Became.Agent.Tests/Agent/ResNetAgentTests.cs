using System.Buffers;
using System.Text;
using System.Text.Json;
using Became.Core.Data;
using Became.Core.Serialization;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Agent;

/// <summary>The agent configured with <c>Model:Architecture=resnet18:0.5</c>: two real Fashion-MNIST split tasks over
/// MQTT, answers over the infer topic, and a model file pulled over MQTT that the Python example loads and
/// reproduces.</summary>
[Trait("Speed", "Slow")]
public sealed class ResNetAgentTests(ITestOutputHelper output)
{
    private const int Inputs = 20;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(300);

    [Fact]
    public async Task Agent_learns_two_tasks_on_a_resnet18_and_a_pulled_model_predicts_as_the_device_in_python()
    {
        await PythonExample.EnsureAvailableAsync();
        using var temp = new TempFolder();
        await using var agent = await AgentHarness.StartAsync(
            epochs: 1,
            extraArgs: ["--Model:Architecture=resnet18:0.5", "--Model:InputShape:0=1", "--Model:InputShape:1=28", "--Model:InputShape:2=28", "--Training:BatchSize=32"]);
        await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 300));
        await agent.PublishTaskAsync("t1", AgentHarness.SplitTask(1, 300));

        var deployed = await agent.WaitForAsync("model.deployed", "t1", Patience);
        output.WriteLine(deployed.GetRawText());
        var accuracy = deployed.GetProperty("accuracy");
        Assert.True(accuracy.GetProperty("t0").GetDouble() > 60, accuracy.GetRawText());
        Assert.True(accuracy.GetProperty("t1").GetDouble() > 60, accuracy.GetRawText());
        Assert.Equal(20, deployed.GetProperty("memoryRanks").GetArrayLength());

        var pulled = await MqttRequest.SendAsync(agent, "models/pull", []);
        byte[] modelFile = pulled.Payload.ToArray();
        Assert.True(pulled.UserProperties?.Any(p => p.Name == "sha256") == true, Encoding.UTF8.GetString(modelFile.AsSpan(0, Math.Min(400, modelFile.Length))));
        using (var architecture = JsonDocument.Parse(SafeTensorsFile.Parse(modelFile).Metadata["architecture"]))
        {
            Assert.Equal("resnet18", architecture.RootElement.GetProperty("kind").GetString());
        }

        await File.WriteAllBytesAsync(temp.File("model.safetensors"), modelFile);
        var test = ImageClassificationDataset.Load().Test;
        foreach (var (taskId, task) in new[] { ("t0", 0), ("t1", 1) })
        {
            var rows = Enumerable.Range(0, test.Count).Where(i => test.Label(i) / 2 == task).Take(Inputs).ToList();
            byte[] pixels = rows.SelectMany(r => test.Image(r).ToArray()).ToArray();

            // The device answers over MQTT (inputs in 0..1, as a client sends them).
            var inputs = rows.Select(r => test.Image(r).ToArray().Select(v => v / 255.0).ToArray()).ToArray();
            var reply = await MqttRequest.SendAsync(agent, "infer", JsonSerializer.SerializeToUtf8Bytes(new { taskId, inputs }));
            using var answer = JsonDocument.Parse(reply.Payload.ToArray());
            float[] device = answer.RootElement.GetProperty("probabilities").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(p => p.GetSingle())).ToArray();
            long[] devicePredictions = answer.RootElement.GetProperty("predictions").EnumerateArray().Select(p => p.GetInt64()).ToArray();

            string inputsFile = temp.File($"x-{taskId}.safetensors"), predictions = temp.File($"p-{taskId}.json");
            await File.WriteAllBytesAsync(inputsFile, SafeTensorsFile.Write([new SafeTensor("x", "U8", [Inputs, 28, 28], pixels)]));
            await PythonExample.RunScriptAsync("predict", "--model", temp.File("model.safetensors"), "--task", taskId, "--inputs", inputsFile, "--out", predictions);
            using var fromPython = JsonDocument.Parse(await File.ReadAllTextAsync(predictions));
            float[] python = fromPython.RootElement.GetProperty("probabilities").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(p => p.GetSingle())).ToArray();

            Assert.Equal(devicePredictions, fromPython.RootElement.GetProperty("predictions").EnumerateArray().Select(p => p.GetInt64()));
            Assert.Equal(device.Length, python.Length);
            double largest = device.Zip(python, (a, b) => (double)Math.Abs(a - b)).Max();
            output.WriteLine($"{taskId}: {Inputs} predictions equal; largest probability difference {largest:E2}");
            Assert.True(largest <= 1e-5, $"{taskId}: probabilities differ by up to {largest:E2}");
        }
    }
}
