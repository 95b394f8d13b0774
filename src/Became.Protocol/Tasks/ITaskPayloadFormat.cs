namespace Became.Protocol;

/// <summary>
/// What a task message is: a format reads a payload into a task. <see cref="Inspect"/> makes every check a device makes
/// (size, structure, dtypes, shapes, counts, labels, classes, metadata, the values of float inputs) without building the
/// inputs; <see cref="Decode"/> makes the same checks and returns the inputs for training. Both throw
/// <see cref="TaskRejectedException"/> naming the first problem, with the same code and message.
/// </summary>
public interface ITaskPayloadFormat
{
    /// <summary>The format's name (e.g. "safetensors").</summary>
    string Name { get; }

    /// <summary>Checks <paramref name="payload"/> as <see cref="Decode"/> does and describes the task, without its inputs.</summary>
    TaskPayloadSummary Inspect(ReadOnlyMemory<byte> payload, TaskPayloadLimits limits);

    /// <summary>Checks <paramref name="payload"/> and returns the whole task, inputs as floats.</summary>
    DecodedTask Decode(ReadOnlyMemory<byte> payload, TaskPayloadLimits limits);
}

/// <summary>A checked task payload, described from its header and labels: what intake stores about it.</summary>
/// <param name="Name">The metadata's name, if any.</param>
/// <param name="Classes">Classes of the task's head (every label is below it).</param>
/// <param name="Count">Samples.</param>
/// <param name="TestFraction">The share held out for testing.</param>
/// <param name="Features">Values per sample.</param>
/// <param name="InputsAreBytes">True for uint8 pixels, false for float32 inputs.</param>
public sealed record TaskPayloadSummary(string? Name, int Classes, int Count, double TestFraction, int Features, bool InputsAreBytes)
{
    /// <summary>Samples held out for testing (<see cref="DecodedTask.TestCountOf"/>).</summary>
    public int TestCount => DecodedTask.TestCountOf(Count, TestFraction);
}

/// <summary>The task payload formats by name; <see cref="Default"/> is what a task topic carries.</summary>
public static class TaskPayloadFormats
{
    /// <summary>safetensors with <c>x</c>, <c>y</c> and optional metadata (the contract's task message).</summary>
    public static ITaskPayloadFormat Safetensors { get; } = new SafetensorsTaskFormat();

    /// <summary>The format of the task topics.</summary>
    public static ITaskPayloadFormat Default => Safetensors;

    /// <summary>Every known format.</summary>
    public static IReadOnlyList<ITaskPayloadFormat> All { get; } = [Safetensors];

    /// <summary>The format called <paramref name="name"/> (ordinal, case-insensitive), or null.</summary>
    public static ITaskPayloadFormat? Find(string name) =>
        All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));
}
