using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Became.Agent.Deployment;
using Became.Agent.Jobs;
using Became.Agent.Configuration;
using Became.Agent.Intake;
using Became.Agent.Storage;
using Became.Core.Data;
using Became.Core.Serialization;
using Became.Protocol;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Agent;

/// <summary>Train once, deploy many: a device adopts a peer's version with its learner state over MQTT 5 request/response
/// (cmd/adopt), serves it, and its next task continues from the adopted bases and Fisher.</summary>
[Trait("Speed", "Slow")]
public sealed class AdoptionTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(300);

    [Fact]
    public async Task Adopted_version_serves_like_the_peer_and_the_next_task_continues_from_its_state()
    {
        await using var a = await AgentHarness.StartAsync(epochs: 2);
        // Small chunks make the adopter fetch the file in many pieces, as it must through a broker with a small packet limit.
        await using var b = await AgentHarness.StartAsync(externalPort: a.BrokerPort, epochs: 2, extraArgs: ["--Adopt:ChunkBytes=65536"]);
        await a.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 600));
        await a.WaitForAsync("model.deployed", "t0", Patience);
        await a.PublishTaskAsync("t1", AgentHarness.SplitTask(1, 600));
        await a.WaitForAsync("model.deployed", "t1", Patience);
        var peer = a.Store.FindVersion(2)!;

        // The pull with state: one self-describing file with its sha256; a plain pull still returns the bare model.
        var whole = await MqttRequest.SendAsync(a, "models/pull", Encoding.UTF8.GetBytes("{\"version\": 2, \"state\": true}"));
        byte[] stateFile = whole.Payload.ToArray();
        Assert.Equal(BlobStore.Hash(stateFile), Property(whole, "sha256"));
        Assert.Equal(stateFile.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), Property(whole, "size"));
        var state = VersionStateFile.Read(stateFile);
        Assert.Equal((a.DeviceId, 2), (state.Device, state.Version));
        Assert.Equal(["t0", "t1"], state.Tasks.Select(t => t.Id));
        Assert.All(state.Tasks, t => Assert.True(t.TestSet));
        Assert.NotNull(state.File.Find("fisher.shared.0.weight"));
        Assert.NotNull(state.File.Find("memory.0"));
        output.WriteLine($"state file of the default MLP, 2 tasks of 600 samples: {stateFile.Length} bytes; tensors: {string.Join(", ", state.File.Tensors.Select(t => $"{t.Name} [{string.Join("x", t.Shape)}]"))}");
        var plain = await MqttRequest.SendAsync(a, "models/pull", Encoding.UTF8.GetBytes("{\"version\": 2}"));
        Assert.Equal(peer.ModelBlob, Property(plain, "sha256"));

        var clock = Stopwatch.StartNew();
        var reply = Json(await MqttRequest.SendAsync(b, "cmd/adopt", Encoding.UTF8.GetBytes($"{{\"from\": \"{a.DeviceId}\", \"version\": 2}}"), Patience));
        output.WriteLine($"adopted in {clock.Elapsed.TotalSeconds:F2} s over the loopback broker ({stateFile.Length} bytes in 64 KiB chunks): {reply}");
        Assert.True(reply.GetProperty("deployed").GetBoolean(), reply.ToString());
        Assert.False(reply.GetProperty("queued").GetBoolean());
        Assert.Equal(1, reply.GetProperty("version").GetInt32());
        Assert.Equal(a.DeviceId, reply.GetProperty("from").GetProperty("device").GetString());
        Assert.Equal(2, reply.GetProperty("from").GetProperty("version").GetInt32());
        var deployed = await b.WaitForEventAsync(e => AgentHarness.Type(e) == "model.deployed" && e.TryGetProperty("adoptedFrom", out _), Patience, "model.deployed with adoptedFrom");
        Assert.Equal(2, deployed.GetProperty("adoptedFrom").GetProperty("version").GetInt32());

        // B measures the adopted network on the held-out sets that came with it: the same figures as A's.
        var adopted = b.Store.Deployed()!;
        Assert.Equal(a.DeviceId, adopted.AdoptedFrom!.Device);
        Assert.Equal(2, adopted.AdoptedFrom.Version);
        Assert.Equal(["t0", "t1"], adopted.TaskIds);
        foreach (var (task, percent) in peer.Accuracy)
        {
            Assert.Equal(percent, adopted.Accuracy[task], 2);
        }

        // Same parameters, same answers: B's infer on A's tasks matches A's.
        AssertSameParameters(a.Store.Blobs.Get(peer.ModelBlob), b.Store.Blobs.Get(adopted.ModelBlob));
        foreach (var (taskId, task) in new[] { ("t0", 0), ("t1", 1) })
        {
            var fromA = Json(await MqttRequest.SendAsync(a, "infer", InferRequest(taskId, task, 20))).GetProperty("predictions").GetRawText();
            var fromB = Json(await MqttRequest.SendAsync(b, "infer", InferRequest(taskId, task, 20))).GetProperty("predictions").GetRawText();
            Assert.Equal(fromA, fromB);
        }

        // The adopted tasks are known: the same payload sent to B is a duplicate, not learned again.
        await b.PublishTaskAsync("t1", AgentHarness.SplitTask(1, 600));
        await b.WaitForAsync("task.duplicate", "t1", Patience);

        // Persisted: after a restart B serves the adopted version and continues from its state.
        await b.RestartAsync(externalPort: a.BrokerPort, epochs: 2);
        Assert.Equal(1, b.Deployed.Current.Version);
        Assert.Equal(a.DeviceId, b.Store.FindVersion(1)!.AdoptedFrom!.Device);

        await b.PublishTaskAsync("t2", AgentHarness.SplitTask(2, 600));
        var merged = await b.WaitForAsync("model.merged", "t2", Patience);
        var next = await b.WaitForEventAsync(e => AgentHarness.Type(e) is "model.deployed" or "model.rejected" && e.GetProperty("taskId").GetString() == "t2", Patience, "t2's verdict");
        output.WriteLine($"B after t2: {next}; merge {merged}");
        Assert.Equal("model.deployed", AgentHarness.Type(next));
        var learned = b.Store.FindVersion(2)!;
        Assert.Equal(1, learned.ParentVersion);
        Assert.Equal(["t0", "t1", "t2"], learned.TaskIds);

        // Within the gate on the adopted tasks, measured on their held-out sets.
        var gate = new GateOptions();
        foreach (var task in new[] { "t0", "t1" })
        {
            double before = adopted.Accuracy[task], after = learned.Accuracy[task];
            int testCount = DecodedTask.TestCountOf(600, b.Store.FindTask(task)!.TestFraction);
            Assert.True(before - after <= gate.MaxForgettingPoints + DeploymentGate.SamplingNoise(before, testCount), $"{task}: {before} -> {after}");
        }

        // The merge weighed the adopted Fisher (without it a = 1), and the bases grew from the adopted ones.
        double a2 = merged.GetProperty("mergeCoefficient").GetDouble();
        Assert.InRange(a2, 0, 0.999);
        Assert.All(adopted.MemoryRanks.Zip(learned.MemoryRanks), r => Assert.True(r.Second >= r.First && r.First > 0, $"ranks {string.Join(",", adopted.MemoryRanks)} -> {string.Join(",", learned.MemoryRanks)}"));
    }

    [Fact]
    public async Task Adoption_from_another_architecture_an_unknown_version_or_a_silent_peer_is_refused_and_the_deployed_model_stays()
    {
        await using var a = await AgentHarness.StartAsync(epochs: 1);
        await using var b = await AgentHarness.StartAsync(externalPort: a.BrokerPort, epochs: 1,
            extraArgs: ["--Model:HiddenSizes:0=64", "--Model:HiddenSizes:1=64", "--Adopt:TimeoutSeconds=2"]);
        await a.PublishTaskAsync("p0", AgentHarness.SplitTask(0, 200));
        await b.PublishTaskAsync("q0", AgentHarness.SplitTask(0, 200));
        await a.WaitForAsync("model.deployed", "p0", Patience);
        await b.WaitForAsync("model.deployed", "q0", Patience);

        async Task<(string Code, string Message)> Refused(string request)
        {
            var message = await MqttRequest.SendAsync(b, "cmd/adopt", Encoding.UTF8.GetBytes(request), Patience);
            var body = Json(message);
            output.WriteLine($"{request} -> {body}");
            Assert.Equal(body.GetProperty("error").GetString(), Property(message, "error"));
            return (body.GetProperty("error").GetString()!, body.GetProperty("message").GetString()!);
        }

        var mismatch = await Refused($"{{\"from\": \"{a.DeviceId}\", \"version\": 1}}");
        Assert.Equal("architecture_mismatch", mismatch.Code);
        Assert.Contains("64", mismatch.Message);
        Assert.Equal("unknown_version", (await Refused($"{{\"from\": \"{a.DeviceId}\", \"version\": 7}}")).Code);
        Assert.Equal("unknown_version", (await Refused($"{{\"from\": \"{a.DeviceId}\", \"version\": 0}}")).Code);
        var clock = Stopwatch.StartNew();
        var silent = await Refused("{\"from\": \"nobody-here\", \"version\": 1}");
        Assert.Equal("peer_timeout", silent.Code);
        Assert.Contains("nobody-here", silent.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the timeout took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal("bad_request", (await Refused($"{{\"from\": \"{b.DeviceId}\"}}")).Code);
        Assert.Equal("bad_request", (await Refused("{\"version\": 1}")).Code);

        // Nothing moved: B still serves its own version and has no other.
        Assert.Equal(1, b.Deployed.Current.Version);
        Assert.Equal([1], b.Store.Versions().Select(v => v.Version));
        Assert.Null(b.Store.FindTask("p0"));
    }

    [Fact]
    public async Task Tampered_state_is_refused_by_its_checksum()
    {
        await using var a = await AgentHarness.StartAsync(epochs: 1);
        await using var b = await AgentHarness.StartAsync(externalPort: a.BrokerPort, epochs: 1);
        await a.PublishTaskAsync("p0", AgentHarness.SplitTask(0, 200));
        await a.WaitForAsync("model.deployed", "p0", Patience);
        var original = await MqttRequest.SendAsync(a, "models/pull", Encoding.UTF8.GetBytes("{\"version\": 1, \"state\": true}"));
        byte[] tampered = original.Payload.ToArray();
        tampered[^1] ^= 0x40;

        // A peer on the broker that hands out A's state with one bit changed, under A's sha256.
        using var fake = await FakePeerAsync(a, "mallory", tampered, Property(original, "sha256")!, "1");
        var message = await MqttRequest.SendAsync(b, "cmd/adopt", Encoding.UTF8.GetBytes("{\"from\": \"mallory\", \"version\": 1}"), Patience);
        var body = Json(message);
        output.WriteLine(body.ToString());
        Assert.Equal("checksum_mismatch", body.GetProperty("error").GetString());
        Assert.Empty(b.Store.Versions());
        Assert.Equal(0, b.Deployed.Current.Version);
    }

    [Fact]
    public async Task Adoption_during_training_is_queued_and_applied_when_the_job_ends_and_a_queued_task_it_brings_is_not_learned_again()
    {
        await using var a = await AgentHarness.StartAsync(epochs: 1);
        await using var b = await AgentHarness.StartAsync(externalPort: a.BrokerPort, epochs: 30);
        await a.PublishTaskAsync("p0", AgentHarness.SplitTask(0, 300));
        await a.WaitForAsync("model.deployed", "p0", Patience);

        // 30 epochs of 10,000 samples: the adoption surely arrives while B trains.
        await b.PublishTaskAsync("long", AgentHarness.SplitTask(1, 10000));
        await b.WaitForAsync("training.progress", "long", Patience);

        // The same task A learned waits in B's queue (a group task reaches both): the adoption brings it.
        await b.PublishTaskAsync("p0", AgentHarness.SplitTask(0, 300));
        await b.WaitForAsync("task.accepted", "p0", Patience);
        var clock = Stopwatch.StartNew();
        var reply = Json(await MqttRequest.SendAsync(b, "cmd/adopt", Encoding.UTF8.GetBytes($"{{\"from\": \"{a.DeviceId}\"}}"), Patience));
        output.WriteLine($"answered in {clock.Elapsed.TotalSeconds:F2} s: {reply}");
        Assert.Equal(TaskState.Queued, b.Store.FindTask("long")!.State);
        Assert.True(reply.GetProperty("queued").GetBoolean());
        Assert.False(reply.GetProperty("deployed").GetBoolean());
        Assert.Equal(1, reply.GetProperty("from").GetProperty("version").GetInt32());

        // The job commits its own version first; then the adoption (the later choice) serves, on top of it.
        await b.WaitForAsync("model.deployed", "long", Patience);
        await b.WaitForEventAsync(e => AgentHarness.Type(e) == "model.deployed" && e.TryGetProperty("adoptedFrom", out _), Patience, "the adoption's model.deployed");
        Assert.Equal(2, b.Deployed.Current.Version);
        var adopted = b.Store.FindVersion(2)!;
        Assert.Equal(a.DeviceId, adopted.AdoptedFrom!.Device);
        Assert.Equal(1, adopted.ParentVersion);
        Assert.Equal(["p0"], adopted.TaskIds);
        var p0 = b.Store.FindTask("p0")!;
        Assert.Equal((TaskState.Learned, 2, a.DeviceId), (p0.State, p0.Version, p0.AdoptedFrom));
        Assert.Empty(b.Store.QueuedTasks());
        Assert.DoesNotContain(b.Events, e => e.GetProperty("taskId").GetString() == "p0" && AgentHarness.Type(e) == "training.progress");
    }

    private static string? Property(MqttApplicationMessage message, string name) =>
        message.UserProperties?.FirstOrDefault(p => p.Name == name)?.ReadValueAsString();

    private static JsonElement Json(MqttApplicationMessage message) => JsonDocument.Parse(message.Payload.ToArray()).RootElement.Clone();

    private static void AssertSameParameters(byte[] left, byte[] right)
    {
        var l = SafeTensorsFile.Parse(left);
        var r = SafeTensorsFile.Parse(right);
        Assert.Equal(l.Tensors.Select(t => t.Name), r.Tensors.Select(t => t.Name));
        foreach (var t in l.Tensors)
        {
            Assert.True(t.Data.Span.SequenceEqual(r.Find(t.Name)!.Data.Span), $"{t.Name} differs");
        }
    }

    private static byte[] InferRequest(string taskId, int task, int count)
    {
        var dataset = ImageClassificationDataset.Load();
        var rows = Enumerable.Range(0, dataset.Test.Count).Where(i => dataset.Test.Label(i) / 2 == task).Take(count).ToList();
        var inputs = rows.Select(r => dataset.Test.Image(r).ToArray().Select(v => Math.Round(v / 255.0, 6)).ToArray()).ToArray();
        return JsonSerializer.SerializeToUtf8Bytes(new { taskId, inputs });
    }

    /// <summary>Answers pulls on became/{device}/models/pull with pieces of <paramref name="file"/> under the given sha256.</summary>
    private static async Task<IMqttClient> FakePeerAsync(AgentHarness broker, string device, byte[] file, string sha256, string version)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += async e =>
        {
            var request = JsonDocument.Parse(e.ApplicationMessage.Payload.ToArray()).RootElement;
            long offset = request.TryGetProperty("offset", out var o) ? o.GetInt64() : 0;
            int length = request.TryGetProperty("length", out var l) ? l.GetInt32() : file.Length;
            int count = (int)Math.Min(length, file.Length - offset);
            await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(e.ApplicationMessage.ResponseTopic)
                .WithCorrelationData(e.ApplicationMessage.CorrelationData.ToArray())
                .WithPayload(file.AsMemory((int)offset, count).ToArray())
                .WithUserProperty("version", Encoding.UTF8.GetBytes(version))
                .WithUserProperty("sha256", Encoding.UTF8.GetBytes(sha256))
                .WithUserProperty("size", Encoding.UTF8.GetBytes(file.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build());
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(broker.BrokerHost, broker.BrokerPort).WithProtocolVersion(MqttProtocolVersion.V500).WithClientId("fake-" + Guid.NewGuid().ToString("N")).Build());
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter($"became/{device}/models/pull", MqttQualityOfServiceLevel.AtLeastOnce).Build());
        return client;
    }
}
