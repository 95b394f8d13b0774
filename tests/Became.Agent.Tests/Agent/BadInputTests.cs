using System.Buffers.Binary;
using System.Text;
using Became.Core.Serialization;

namespace Became.Agent.Tests.Agent;

/// <summary>One running agent (embedded broker) shared by the bad-input cases.</summary>
public sealed class BadInputAgent : IAsyncLifetime
{
    public AgentHarness Agent { get; private set; } = null!;

    // A 2 MiB payload limit keeps the oversized case cheap.
    public async Task InitializeAsync() => Agent = await AgentHarness.StartAsync(extraArgs: ["--Limits:MaxPayloadBytes=2097152"]);

    public async Task DisposeAsync() => await Agent.DisposeAsync();
}

/// <summary>Every kind of bad task message gets a task.rejected event naming its reason, and the agent goes on
/// learning valid tasks (docs/bad-inputs.md lists the kinds).</summary>
[Trait("Speed", "Slow")]
public sealed class BadInputTests(BadInputAgent fixture) : IClassFixture<BadInputAgent>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    private static byte[] Task(string xDType, long[] xShape, byte[] x, long[] y, Dictionary<string, string>? metadata = null) =>
        SafeTensorsFile.Write(
            [new SafeTensor("x", xDType, xShape, x), new SafeTensor("y", "I64", [y.Length], y.SelectMany(BitConverter.GetBytes).ToArray())],
            metadata);

    private static byte[] Bytes(int n, int features = 784) => Enumerable.Range(0, n * features).Select(i => (byte)(i * 7)).ToArray();

    private static long[] Labels(int n) => Enumerable.Range(0, n).Select(i => (long)(i % 2)).ToArray();

    public static TheoryData<string, string> Cases() => new()
    {
        { "not-safetensors", "not_safetensors" },
        { "header-longer-than-payload", "not_safetensors" },
        { "header-not-json", "not_safetensors" },
        { "tensor-outside-data", "not_safetensors" },
        { "unsupported-dtype", "bad_dtype" },
        { "wrong-shape", "bad_shape" },
        { "count-mismatch", "count_mismatch" },
        { "label-too-large", "bad_label" },
        { "classes-below-two", "bad_classes" },
        { "nan-inputs", "non_finite" },
        { "empty", "empty" },
        { "one-class", "single_class" },
        { "oversized", "too_large" },
        { "bad..id", "bad_task_id" },
    };

    private static byte[] Payload(string kind)
    {
        byte[] valid = Task("U8", [10, 28, 28], Bytes(10), Labels(10));
        switch (kind)
        {
            case "not-safetensors":
                return "hello, this is not a tensor file"u8.ToArray();
            case "header-longer-than-payload":
                var lying = (byte[])valid.Clone();
                BinaryPrimitives.WriteUInt64LittleEndian(lying, (ulong)lying.Length * 4);
                return lying;
            case "header-not-json":
                var broken = (byte[])valid.Clone();
                broken[8] = (byte)'!';
                return broken;
            case "tensor-outside-data":
                return valid[..^100];
            case "unsupported-dtype":
                return Task("I16", [10, 784], new byte[10 * 784 * 2], Labels(10));
            case "wrong-shape":
                return Task("U8", [10, 27, 28], Bytes(10, 27 * 28), Labels(10));
            case "count-mismatch":
                return Task("U8", [10, 784], Bytes(10), Labels(9));
            case "label-too-large":
                return Task("U8", [10, 784], Bytes(10), [.. Labels(9), 5], new Dictionary<string, string> { ["classes"] = "2" });
            case "classes-below-two":
                return Task("U8", [10, 784], Bytes(10), Labels(10), new Dictionary<string, string> { ["classes"] = "1" });
            case "nan-inputs":
                var floats = Enumerable.Range(0, 10 * 784).Select(i => i == 123 ? float.NaN : 0.5f).SelectMany(BitConverter.GetBytes).ToArray();
                return Task("F32", [10, 784], floats, Labels(10));
            case "empty":
                return Task("U8", [0, 784], [], []);
            case "one-class":
                return Task("U8", [10, 784], Bytes(10), new long[10]);
            case "oversized":
                return Task("U8", [3000, 784], Bytes(3000), Labels(3000));
            default:
                return valid;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_task_is_rejected_with_its_reason(string kind, string reason)
    {
        var agent = fixture.Agent;
        string taskId = kind == "bad..id" ? kind : $"bad-{kind}";

        await agent.PublishTaskAsync(taskId, Payload(kind));

        var rejected = await agent.WaitForAsync("task.rejected", taskId);
        Assert.Equal(reason, rejected.GetProperty("reason").GetString());
        Assert.False(string.IsNullOrWhiteSpace(rejected.GetProperty("message").GetString()));
        Assert.Null(agent.Store.FindTask(taskId));
    }

    [Fact]
    public async Task Reused_task_id_with_different_data_is_rejected()
    {
        var agent = fixture.Agent;
        await agent.PublishTaskAsync("reused", AgentHarness.SplitTask(3, 100));
        await agent.WaitForAsync("task.accepted", "reused");

        await agent.PublishTaskAsync("reused", AgentHarness.SplitTask(4, 100));

        var rejected = await agent.WaitForAsync("task.rejected", "reused");
        Assert.Equal("duplicate_id", rejected.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Agent_learns_a_valid_task_after_bad_ones()
    {
        var agent = fixture.Agent;
        await agent.PublishTaskAsync("garbage-first", Encoding.UTF8.GetBytes("{not a task}"));
        await agent.PublishTaskAsync("valid-after", AgentHarness.SplitTask(2, 200));

        await agent.WaitForAsync("task.rejected", "garbage-first");
        var deployed = await agent.WaitForAsync("model.deployed", "valid-after", Patience);
        Assert.True(deployed.GetProperty("accuracy").GetProperty("valid-after").GetDouble() > 60);
    }
}
