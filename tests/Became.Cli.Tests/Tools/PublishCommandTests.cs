using Became.Core.Serialization;

namespace Became.Cli.Tests.Tools;

/// <summary><c>became publish</c>: what can be checked locally is checked before anything is sent, and with --wait
/// the device's own verdict decides the exit code.</summary>
[Trait("Speed", "Slow")]
public sealed class PublishCommandTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("became-publish-").FullName;

    public static TheoryData<string, string, string> Rejected => new()
    {
        // task id, file kind, what the one line must say
        { "bad/id", "task", "invalid_id" },
        { "..hidden", "task", "invalid_id" },
        { "good-id", "json", "not_safetensors" },
        { "good-id", "count-mismatch", "count_mismatch" },
        { "good-id", "no-y", "missing_tensor" },
        { "good-id", "float64", "bad_dtype" },
    };

    [Theory]
    [MemberData(nameof(Rejected))]
    public async Task A_task_any_device_would_reject_is_refused_before_anything_is_sent(string taskId, string kind, string reason)
    {
        string file = Write(kind);

        // Nothing listens on port 1: had the command tried to send, it would fail to connect (exit 1) instead.
        var result = await CommandLineTests.RunAsync("publish", "--broker", "127.0.0.1:1", "--device", "d1", "--file", file, "--task-id", taskId);

        BecameCommand.AssertUsageError(result, reason, "nothing was sent");
        Assert.DoesNotContain("published", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_feature_count_is_checked_when_given()
    {
        var result = await CommandLineTests.RunAsync("publish", "--broker", "127.0.0.1:1", "--device", "d1", "--file", Write("task"), "--task-id", "t", "--features", "10");

        BecameCommand.AssertUsageError(result, "bad_shape", "784", "nothing was sent");
    }

    [Fact]
    public async Task Wait_follows_the_device_until_deployed_and_a_rejection_or_reused_id_exits_1_with_the_reason()
    {
        await using var agent = await AgentHarness.StartAsync();
        string[] target = ["publish", "--broker", $"{agent.BrokerHost}:{agent.BrokerPort}", "--device", agent.DeviceId];

        var deployed = await CommandLineTests.RunAsync([.. target, "--file", Write("task"), "--task-id", "t0", "--wait", "deployed", "--timeout", "120"]);
        Assert.True(deployed.Code == 0, deployed.Error);
        Assert.Contains("accepted t0", deployed.Output, StringComparison.Ordinal);
        Assert.Contains("deployed t0 as model version 1", deployed.Output, StringComparison.Ordinal);

        // Structure is fine locally, but this device's input is 784 values per sample: only it can say no.
        var rejected = await CommandLineTests.RunAsync([.. target, "--file", Write("ten-features"), "--task-id", "t1", "--wait"]);
        Assert.Equal(1, rejected.Code);
        Assert.Contains("rejected t1: bad_shape", rejected.Error, StringComparison.Ordinal);

        var reused = await CommandLineTests.RunAsync([.. target, "--file", Write("task"), "--task-id", "t0", "--wait"]);
        Assert.Equal(1, reused.Code);
        Assert.Contains("already has a task t0", reused.Error, StringComparison.Ordinal);
    }

    private string Write(string kind)
    {
        byte[] bytes = kind switch
        {
            "task" => AgentHarness.SplitTask(0, 100),
            "json" => """{"x": [[0, 1]], "y": [0]}"""u8.ToArray(),
            "count-mismatch" => SafeTensorsFile.Write([new SafeTensor("x", "U8", [3, 4], new byte[12]), new SafeTensor("y", "I64", [2], new byte[16])]),
            "no-y" => SafeTensorsFile.Write([new SafeTensor("x", "U8", [3, 4], new byte[12])]),
            "float64" => SafeTensorsFile.Write([new SafeTensor("x", "F64", [2, 4], new byte[64]), new SafeTensor("y", "I64", [2], new byte[16])]),
            "ten-features" => SafeTensorsFile.Write([new SafeTensor("x", "U8", [4, 10], new byte[40]), new SafeTensor("y", "I64", [4], new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 })]),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        string path = Path.Combine(_folder, $"{kind}-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
