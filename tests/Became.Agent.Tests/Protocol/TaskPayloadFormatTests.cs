using Became.Core.Serialization;
using Became.Protocol;
using static Became.Testing.TaskPayloads;

namespace Became.Agent.Tests.ProtocolChecks;

/// <summary>The format seam: Inspect describes a valid task as Decode does, without building its inputs; the registry
/// names the contract's format.</summary>
public sealed class TaskPayloadFormatTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly ITaskPayloadFormat Format = TaskPayloadFormats.Safetensors;

    public static TheoryData<string> Payloads => ["u8", "f32", "u8-metadata"];

    private static byte[] Payload(string kind) => kind switch
    {
        "u8" => Build(ByteImages([20, 28, 28]), Labels(Enumerable.Range(0, 20).Select(i => (long)(i % 3)).ToArray())),
        "f32" => Build(Floats("x", [12, 784], i => (i % 97) / 97f), Labels(Enumerable.Range(0, 12).Select(i => (long)(i % 2)).ToArray())),
        _ => Build(new Dictionary<string, string> { ["name"] = "n", ["classes"] = "7", ["test_fraction"] = "0.25" }, ByteImages([8, 784]), Labels(0, 1, 6, 1, 0, 2, 3, 4)),
    };

    [Theory]
    [MemberData(nameof(Payloads))]
    public void Inspect_describes_a_valid_task_as_Decode_does(string kind)
    {
        byte[] payload = Payload(kind);

        var summary = Format.Inspect(payload, Limits);
        var task = Format.Decode(payload, Limits);

        Assert.Equal(new TaskPayloadSummary(task.Name, task.Classes, task.Count, task.TestFraction, task.Features, task.InputsAreBytes), summary);
        Assert.Equal(task.TestCount, summary.TestCount);
    }

    [Fact]
    public void Inspect_of_a_10000_sample_float32_task_does_not_allocate_its_inputs()
    {
        const int samples = 10_000;
        byte[] payload = Build(Floats("x", [samples, Features], i => (i % 251) / 251f), Labels(Enumerable.Range(0, samples).Select(i => (long)(i % 10)).ToArray()));
        long inputBytes = 4L * samples * Features;
        _ = Format.Inspect(payload, Limits);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var summary = Format.Inspect(payload, Limits);
        long inspected = GC.GetAllocatedBytesForCurrentThread() - before;

        before = GC.GetAllocatedBytesForCurrentThread();
        var task = Format.Decode(payload, Limits);
        long decoded = GC.GetAllocatedBytesForCurrentThread() - before;

        output.WriteLine($"{payload.Length} payload bytes: Inspect allocated {inspected} bytes, Decode {decoded}");
        Assert.Equal((samples, 10, false), (summary.Count, summary.Classes, summary.InputsAreBytes));
        Assert.True(inspected < inputBytes / 100, $"Inspect allocated {inspected} bytes; the inputs are {inputBytes}");
        // The measurement sees the inputs when they are built.
        Assert.True(decoded >= inputBytes, $"Decode allocated {decoded} bytes; the inputs are {inputBytes}");
        Assert.Equal(samples * Features, task.Inputs.Length);
    }

    [Fact]
    public void The_split_check_takes_the_summary_as_the_decoded_task()
    {
        var labels = Enumerable.Range(0, 9).Select(i => (long)(i % 2)).ToArray();
        byte[] payload = SafeTensorsFile.Write([ByteImages([9, Features]), Labels(labels)]);

        var fromSummary = Assert.Throws<TaskRejectedException>(() => TaskPayloadRules.CheckSplit(Format.Inspect(payload, Limits)));
        var fromTask = Assert.Throws<TaskRejectedException>(() => TaskPayloadRules.CheckSplit(Format.Decode(payload, Limits)));

        Assert.Equal((ErrorCodes.TooSmall, fromTask.Message), (fromSummary.Reason, fromSummary.Message));
    }

    [Fact]
    public void The_registry_finds_the_contracts_format_by_name()
    {
        Assert.Equal("safetensors", TaskPayloadFormats.Default.Name);
        Assert.Same(TaskPayloadFormats.Safetensors, TaskPayloadFormats.Find("SafeTensors"));
        Assert.Null(TaskPayloadFormats.Find("zip"));
    }
}
