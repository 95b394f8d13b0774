using System.Buffers.Binary;
using System.Globalization;
using Became.Core.Serialization;

namespace Became.Protocol;

/// <summary>The contract's task message: safetensors with <c>x</c> (uint8 or float32, [N, ...]), <c>y</c> (integer [N])
/// and optional metadata (<c>name</c>, <c>classes</c>, <c>test_fraction</c>).</summary>
public sealed class SafetensorsTaskFormat : ITaskPayloadFormat
{
    /// <inheritdoc/>
    public string Name => "safetensors";

    /// <inheritdoc/>
    /// <remarks>Reads the header, the labels and (for float32) the input values in place: nothing as large as the inputs
    /// is allocated, so a 9 MiB uint8 task is not turned into 37 MB of floats to be checked.</remarks>
    public TaskPayloadSummary Inspect(ReadOnlyMemory<byte> payload, TaskPayloadLimits limits) => Read(payload, limits).Summary;

    /// <inheritdoc/>
    public DecodedTask Decode(ReadOnlyMemory<byte> payload, TaskPayloadLimits limits)
    {
        var (summary, x, y) = Read(payload, limits);
        var inputs = summary.InputsAreBytes ? ReadBytes(x) : ReadFloats(x);
        return new DecodedTask(summary.Name, summary.Classes, summary.TestFraction, summary.Count, summary.Features, inputs, summary.InputsAreBytes, ReadLabels(y));
    }

    private static (TaskPayloadSummary Summary, SafeTensor X, SafeTensor Y) Read(ReadOnlyMemory<byte> payload, TaskPayloadLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.Features, 1, nameof(limits));

        // Checked before parsing so an oversized message costs nothing.
        if (payload.Length > limits.MaxPayloadBytes)
        {
            throw Reject(ErrorCodes.TooLarge, $"payload is {payload.Length} bytes; the limit is {limits.MaxPayloadBytes} bytes");
        }

        SafeTensorsFile file;
        try
        {
            file = SafeTensorsFile.Parse(payload);
        }
        catch (SafeTensorsFormatException ex)
        {
            throw new TaskRejectedException(ErrorCodes.NotSafetensors, $"payload is not a valid safetensors file: {ex.Message}", ex);
        }

        var x = Require(file, "x");
        var y = Require(file, "y");
        CheckDTypes(x, y);
        CheckShapes(x, y, limits.Features);

        var count = x.Shape[0];
        if (count != y.Shape[0])
        {
            throw Reject(ErrorCodes.CountMismatch, $"x has {count} samples but y has {y.Shape[0]} labels; they must match");
        }

        if (count == 0)
        {
            throw Reject(ErrorCodes.Empty, "payload has no samples (N = 0)");
        }

        if (count > limits.MaxSamples)
        {
            throw Reject(ErrorCodes.TooLarge, $"payload has {count} samples; the limit is {limits.MaxSamples}");
        }

        var name = ReadName(file.Metadata);
        var testFraction = ReadTestFraction(file.Metadata);
        var (max, maxIndex) = CheckLabels(y);
        var classes = ReadClasses(file.Metadata, max, maxIndex);
        var inputsAreBytes = x.DType == SafeTensorDType.U8;
        if (!inputsAreBytes)
        {
            CheckFloats(x, limits.Features);
        }

        return (new TaskPayloadSummary(name, classes, (int)count, testFraction, limits.Features, inputsAreBytes), x, y);
    }

    private static SafeTensor Require(SafeTensorsFile file, string name)
    {
        if (file.Find(name) is { } tensor)
        {
            return tensor;
        }

        var names = file.Tensors.Count == 0
            ? "none"
            : string.Join(", ", file.Tensors.Take(10).Select(t => Quote(t.Name))) + (file.Tensors.Count > 10 ? ", ..." : "");
        throw Reject(ErrorCodes.MissingTensor, $"payload has no tensor '{name}' (it has: {names})");
    }

    private static void CheckDTypes(SafeTensor x, SafeTensor y)
    {
        if (x.DType is not (SafeTensorDType.U8 or SafeTensorDType.F32))
        {
            throw Reject(ErrorCodes.BadDtype, $"x has dtype {x.DType}; expected U8 (uint8) or F32 (float32)");
        }

        if (y.DType is not (SafeTensorDType.U8 or SafeTensorDType.I32 or SafeTensorDType.I64))
        {
            throw Reject(ErrorCodes.BadDtype, $"y has dtype {y.DType}; expected U8 (uint8), I32 (int32) or I64 (int64)");
        }
    }

    private static void CheckShapes(SafeTensor x, SafeTensor y, int features)
    {
        // Any layout of a sample is fine ([N, 784], [N, 28, 28], [N, 1, 28, 28]) as long as its size matches.
        // The product cannot overflow: the parser has already checked that the whole tensor's byte size fits.
        var perSample = x.Shape.Skip(1).Aggregate(1L, (a, d) => a * d);
        if (x.Shape.Length < 2 || perSample != features)
        {
            var got = x.Shape.Length < 2 ? $"rank {x.Shape.Length}" : $"{perSample} features per sample";
            throw Reject(
                ErrorCodes.BadShape,
                $"x has shape {Format(x.Shape)} ({got}); expected [N, {features}] (or [N, ...] with {features} features per sample) " +
                "to match the configured input shape");
        }

        if (y.Shape.Length != 1)
        {
            throw Reject(ErrorCodes.BadShape, $"y has shape {Format(y.Shape)}; expected [N], one label per sample");
        }
    }

    private static string? ReadName(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("name", out var name) || name.Length == 0)
        {
            return null;
        }

        if (name.Length > TaskPayloadRules.MaxNameLength)
        {
            throw Reject(ErrorCodes.BadMetadata, $"metadata 'name' is {name.Length} characters; at most {TaskPayloadRules.MaxNameLength} are allowed");
        }

        // Names reach logs and dashboards; control characters there would forge lines.
        if (name.Any(char.IsControl))
        {
            throw Reject(ErrorCodes.BadMetadata, "metadata 'name' contains control characters");
        }

        return name;
    }

    private static double ReadTestFraction(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("test_fraction", out var text))
        {
            return TaskPayloadRules.DefaultTestFraction;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || !double.IsFinite(value) || value <= 0 || value > TaskPayloadRules.MaxTestFraction)
        {
            // 0 is refused too: without a held-out set the task has no accuracy, and the deployment gate could not
            // protect it from being forgotten later.
            throw Reject(ErrorCodes.BadMetadata, $"metadata 'test_fraction' is {Quote(text)}; expected a number in (0, 0.5]: every task keeps a held-out test set");
        }

        return value;
    }

    private static long Label(SafeTensor y, ReadOnlySpan<byte> span, int i) => y.DType switch
    {
        SafeTensorDType.U8 => span[i],
        SafeTensorDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(span[(4 * i)..]),
        _ => BinaryPrimitives.ReadInt64LittleEndian(span[(8 * i)..]),
    };

    // In place: the first negative label, fewer than 2 distinct labels; returns the largest label and where it first is.
    private static (long Max, int MaxIndex) CheckLabels(SafeTensor y)
    {
        var span = y.Data.Span;
        int count = (int)y.Shape[0];
        long first = 0, max = long.MinValue;
        int maxIndex = -1;
        bool distinct = false;
        for (var i = 0; i < count; i++)
        {
            long label = Label(y, span, i);
            if (label < 0)
            {
                throw Reject(ErrorCodes.BadLabel, $"label {label} at index {i} is negative");
            }

            first = i == 0 ? label : first;
            distinct |= label != first;
            if (label > max)
            {
                (max, maxIndex) = (label, i);
            }
        }

        if (!distinct)
        {
            throw Reject(ErrorCodes.SingleClass, $"all {count} labels are {first}; a task needs at least 2 distinct labels");
        }

        return (max, maxIndex);
    }

    private static long[] ReadLabels(SafeTensor y)
    {
        var span = y.Data.Span;
        var labels = new long[y.Shape[0]];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = Label(y, span, i);
        }

        return labels;
    }

    private static int ReadClasses(IReadOnlyDictionary<string, string> metadata, long max, int maxIndex)
    {
        const int maxClasses = TaskPayloadRules.MaxClasses;
        long classes;
        if (metadata.TryGetValue("classes", out var text))
        {
            if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out classes))
            {
                throw Reject(ErrorCodes.BadClasses, $"metadata 'classes' is {Quote(text)}; expected an integer in [2, {maxClasses}]");
            }

            if (classes < 2 || classes > maxClasses)
            {
                throw Reject(ErrorCodes.BadClasses, $"metadata 'classes' is {classes}; expected an integer in [2, {maxClasses}]");
            }
        }
        else
        {
            // Compared before adding one: the largest long label would overflow into a negative class count.
            if (max >= maxClasses)
            {
                throw Reject(ErrorCodes.BadClasses,
                    $"the largest label {max} implies {(ulong)max + 1} classes; at most {maxClasses} are allowed");
            }

            classes = max + 1;
        }

        if (max >= classes)
        {
            throw Reject(ErrorCodes.BadLabel, $"label {max} at index {maxIndex} is not below classes = {classes}");
        }

        return (int)classes;
    }

    // In place, without the float array: NaN/±Inf first (counted, the first named), then the first value out of range.
    private static void CheckFloats(SafeTensor x, int features)
    {
        var span = x.Data.Span;
        int length = span.Length / sizeof(float);
        long bad = 0, first = -1;
        for (var i = 0; i < length; i++)
        {
            if (!float.IsFinite(BinaryPrimitives.ReadSingleLittleEndian(span[(sizeof(float) * i)..])))
            {
                first = bad++ == 0 ? i : first;
            }
        }

        if (bad > 0)
        {
            throw Reject(ErrorCodes.NonFinite,
                $"x has {bad} non-finite value{(bad == 1 ? "" : "s")} (NaN or ±Inf); the first is at index {first} " +
                $"(sample {first / features}, feature {first % features})");
        }

        // The same range as inference: a task trained on another scale would be refused at every infer.
        for (var i = 0; i < length; i++)
        {
            float value = BinaryPrimitives.ReadSingleLittleEndian(span[(sizeof(float) * i)..]);
            if (!InputRange.Contains(value))
            {
                throw Reject(ErrorCodes.OutOfRange,
                    $"x has {value.ToString(CultureInfo.InvariantCulture)} at index {i} (sample {i / features}, feature {i % features}); " +
                    $"float inputs are pixels scaled to [0, 1] ({InputRange.Advice})");
            }
        }
    }

    private static float[] ReadBytes(SafeTensor x)
    {
        var span = x.Data.Span;
        var inputs = new float[span.Length];
        for (var i = 0; i < inputs.Length; i++)
        {
            inputs[i] = span[i];
        }

        return inputs;
    }

    private static float[] ReadFloats(SafeTensor x)
    {
        var span = x.Data.Span;
        var inputs = new float[span.Length / sizeof(float)];
        for (var i = 0; i < inputs.Length; i++)
        {
            inputs[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(sizeof(float) * i)..]);
        }

        return inputs;
    }

    private static string Format(long[] shape) =>
        "[" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>Quotes text from the payload, cut short: rejection messages are published as events.</summary>
    private static string Quote(string text) => text.Length <= 80 ? $"'{text}'" : $"'{text[..80]}...' ({text.Length} characters)";

    private static TaskRejectedException Reject(string reason, string message) => new(reason, message);
}
