using System.Buffers.Binary;
using System.Globalization;
using Became.Core.Serialization;

namespace Became.Agent.Intake;

/// <summary>Turns a task message (safetensors with <c>x</c>, <c>y</c> and optional metadata) into a validated <see cref="DecodedTask"/>.</summary>
public static class TaskPayloadDecoder
{
    /// <summary>Most classes a task may declare.</summary>
    public const int MaxClasses = 10_000;

    /// <summary>Longest accepted task name.</summary>
    public const int MaxNameLength = 200;

    /// <summary>Test fraction used when the metadata gives none.</summary>
    public const double DefaultTestFraction = 0.1;

    /// <summary>Largest accepted test fraction.</summary>
    public const double MaxTestFraction = 0.5;

    /// <summary>Decodes and validates <paramref name="payload"/>; throws <see cref="TaskRejectedException"/> naming the first problem.</summary>
    public static DecodedTask Decode(ReadOnlyMemory<byte> payload, TaskPayloadLimits limits) => Read(payload, limits, materialize: true)!;

    /// <summary>Checks <paramref name="payload"/> exactly as <see cref="Decode"/> does, without building float inputs from
    /// uint8 pixels, which cannot fail (`became publish` checks a 9 MiB task before sending it: 37 MB and a pass less).</summary>
    public static void Check(ReadOnlyMemory<byte> payload, TaskPayloadLimits limits) => Read(payload, limits, materialize: false);

    private static DecodedTask? Read(ReadOnlyMemory<byte> payload, TaskPayloadLimits limits, bool materialize)
    {
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.Features, 1, nameof(limits));

        // Checked before parsing so an oversized message costs nothing.
        if (payload.Length > limits.MaxPayloadBytes)
        {
            throw Reject(TaskRejection.TooLarge, $"payload is {payload.Length} bytes; the limit is {limits.MaxPayloadBytes} bytes");
        }

        SafeTensorsFile file;
        try
        {
            file = SafeTensorsFile.Parse(payload);
        }
        catch (SafeTensorsFormatException ex)
        {
            throw new TaskRejectedException(TaskRejection.NotSafetensors, $"payload is not a valid safetensors file: {ex.Message}", ex);
        }

        var x = Require(file, "x");
        var y = Require(file, "y");
        CheckDTypes(x, y);
        CheckShapes(x, y, limits.Features);

        var count = x.Shape[0];
        if (count != y.Shape[0])
        {
            throw Reject(TaskRejection.CountMismatch, $"x has {count} samples but y has {y.Shape[0]} labels; they must match");
        }

        if (count == 0)
        {
            throw Reject(TaskRejection.Empty, "payload has no samples (N = 0)");
        }

        if (count > limits.MaxSamples)
        {
            throw Reject(TaskRejection.TooLarge, $"payload has {count} samples; the limit is {limits.MaxSamples}");
        }

        var name = ReadName(file.Metadata);
        var testFraction = ReadTestFraction(file.Metadata);
        var labels = ReadLabels(y);
        var classes = ReadClasses(file.Metadata, labels);
        var inputsAreBytes = x.DType == SafeTensorDType.U8;
        if (inputsAreBytes && !materialize)
        {
            return null;
        }

        var inputs = inputsAreBytes ? ReadBytes(x) : ReadFloats(x, limits.Features);
        return new DecodedTask(name, classes, testFraction, (int)count, limits.Features, inputs, inputsAreBytes, labels);
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
        throw Reject(TaskRejection.MissingTensor, $"payload has no tensor '{name}' (it has: {names})");
    }

    private static void CheckDTypes(SafeTensor x, SafeTensor y)
    {
        if (x.DType is not (SafeTensorDType.U8 or SafeTensorDType.F32))
        {
            throw Reject(TaskRejection.BadDType, $"x has dtype {x.DType}; expected U8 (uint8) or F32 (float32)");
        }

        if (y.DType is not (SafeTensorDType.U8 or SafeTensorDType.I32 or SafeTensorDType.I64))
        {
            throw Reject(TaskRejection.BadDType, $"y has dtype {y.DType}; expected U8 (uint8), I32 (int32) or I64 (int64)");
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
                TaskRejection.BadShape,
                $"x has shape {Format(x.Shape)} ({got}); expected [N, {features}] (or [N, ...] with {features} features per sample) " +
                "to match the configured input shape");
        }

        if (y.Shape.Length != 1)
        {
            throw Reject(TaskRejection.BadShape, $"y has shape {Format(y.Shape)}; expected [N], one label per sample");
        }
    }

    private static string? ReadName(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("name", out var name) || name.Length == 0)
        {
            return null;
        }

        if (name.Length > MaxNameLength)
        {
            throw Reject(TaskRejection.BadMetadata, $"metadata 'name' is {name.Length} characters; at most {MaxNameLength} are allowed");
        }

        // Names reach logs and dashboards; control characters there would forge lines.
        if (name.Any(char.IsControl))
        {
            throw Reject(TaskRejection.BadMetadata, "metadata 'name' contains control characters");
        }

        return name;
    }

    private static double ReadTestFraction(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("test_fraction", out var text))
        {
            return DefaultTestFraction;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || !double.IsFinite(value) || value <= 0 || value > MaxTestFraction)
        {
            // 0 is refused too: without a held-out set the task has no accuracy, and the deployment gate could not
            // protect it from being forgotten later.
            throw Reject(TaskRejection.BadMetadata, $"metadata 'test_fraction' is {Quote(text)}; expected a number in (0, 0.5]: every task keeps a held-out test set");
        }

        return value;
    }

    private static long[] ReadLabels(SafeTensor y)
    {
        var span = y.Data.Span;
        var labels = new long[y.Shape[0]];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = y.DType switch
            {
                SafeTensorDType.U8 => span[i],
                SafeTensorDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(span[(4 * i)..]),
                _ => BinaryPrimitives.ReadInt64LittleEndian(span[(8 * i)..]),
            };
            if (labels[i] < 0)
            {
                throw Reject(TaskRejection.BadLabel, $"label {labels[i]} at index {i} is negative");
            }
        }

        if (labels.Distinct().Take(2).Count() < 2)
        {
            throw Reject(TaskRejection.SingleClass, $"all {labels.Length} labels are {labels[0]}; a task needs at least 2 distinct labels");
        }

        return labels;
    }

    private static int ReadClasses(IReadOnlyDictionary<string, string> metadata, long[] labels)
    {
        var max = labels.Max();
        long classes;
        if (metadata.TryGetValue("classes", out var text))
        {
            if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out classes))
            {
                throw Reject(TaskRejection.BadClasses, $"metadata 'classes' is {Quote(text)}; expected an integer in [2, {MaxClasses}]");
            }

            if (classes < 2 || classes > MaxClasses)
            {
                throw Reject(TaskRejection.BadClasses, $"metadata 'classes' is {classes}; expected an integer in [2, {MaxClasses}]");
            }
        }
        else
        {
            // Compared before adding one: the largest long label would overflow into a negative class count.
            if (max >= MaxClasses)
            {
                throw Reject(TaskRejection.BadClasses,
                    $"the largest label {max} implies {(ulong)max + 1} classes; at most {MaxClasses} are allowed");
            }

            classes = max + 1;
        }

        if (max >= classes)
        {
            var index = Array.IndexOf(labels, max);
            throw Reject(TaskRejection.BadLabel, $"label {max} at index {index} is not below classes = {classes}");
        }

        return (int)classes;
    }

    /// <summary>Fewest samples the split needs outside the test set: one to train on and one to validate on.</summary>
    public const int MinTrainAndValidationSamples = 2;

    /// <summary>Whether <paramref name="count"/> samples at <paramref name="testFraction"/> hold out at least one test
    /// sample and leave at least one to train and one to validate on (what <c>TaskSplit</c> needs).</summary>
    public static bool IsLargeEnough(int count, double testFraction)
    {
        int test = DecodedTask.TestCountOf(count, testFraction);
        return test >= 1 && count - test >= MinTrainAndValidationSamples;
    }

    /// <summary>
    /// Throws <see cref="TaskRejection.TooSmall"/> when the task cannot be split into a held-out test set and a training
    /// and validation set (kept apart from <see cref="Decode"/>, which checks the payload's form, not its size).
    /// </summary>
    public static void CheckSplit(DecodedTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        int count = task.Count;
        double testFraction = task.TestFraction;
        if (IsLargeEnough(count, testFraction))
        {
            return;
        }

        // An empty held-out set has no accuracy (0/0): refuse here rather than learn a task nothing can measure.
        long test = (long)Math.Floor(count * testFraction);
        string fraction = testFraction.ToString("0.###", CultureInfo.InvariantCulture);
        string fix = $"send at least {SamplesNeeded(testFraction)} samples";
        if (FractionNeeded(count) is double needed)
        {
            fix += $", or set test_fraction to at least {needed.ToString("0.###", CultureInfo.InvariantCulture)}";
        }

        throw Reject(TaskRejection.TooSmall,
            $"the task has {count} samples; test_fraction {fraction} holds out {test} for testing, and a task needs at least 1 test sample " +
            $"plus {MinTrainAndValidationSamples} to train and validate on: {fix}");
    }

    // The fewest samples that split at this fraction; testFraction is in (0, 0.5], so the answer is at most a few above 1/fraction.
    private static long SamplesNeeded(double testFraction)
    {
        long n = Math.Max(MinTrainAndValidationSamples + 1, (long)Math.Floor(1 / testFraction) - 1);
        while (n < int.MaxValue && !IsLargeEnough((int)n, testFraction))
        {
            n++;
        }

        return n;
    }

    // The smallest test fraction (rounded up to 3 decimals, at most 0.5) that splits this many samples, or null when none does.
    private static double? FractionNeeded(int count)
    {
        for (int thousandths = (int)Math.Ceiling(1000.0 / count); thousandths <= 1000 * MaxTestFraction; thousandths++)
        {
            if (IsLargeEnough(count, thousandths / 1000.0))
            {
                return thousandths / 1000.0;
            }
        }

        return null;
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

    private static float[] ReadFloats(SafeTensor x, int features)
    {
        var span = x.Data.Span;
        var inputs = new float[span.Length / sizeof(float)];
        long bad = 0, first = -1;
        for (var i = 0; i < inputs.Length; i++)
        {
            var value = BinaryPrimitives.ReadSingleLittleEndian(span[(sizeof(float) * i)..]);
            if (!float.IsFinite(value))
            {
                first = bad++ == 0 ? i : first;
            }

            inputs[i] = value;
        }

        if (bad > 0)
        {
            throw Reject(TaskRejection.NonFinite,
                $"x has {bad} non-finite value{(bad == 1 ? "" : "s")} (NaN or ±Inf); the first is at index {first} " +
                $"(sample {first / features}, feature {first % features})");
        }

        // The same range as inference: a task trained on another scale would be refused at every infer.
        int outside = Array.FindIndex(inputs, v => !InputRange.Contains(v));
        if (outside >= 0)
        {
            throw Reject(TaskRejection.OutOfRange,
                $"x has {inputs[outside].ToString(CultureInfo.InvariantCulture)} at index {outside} (sample {outside / features}, feature {outside % features}); " +
                $"float inputs are pixels scaled to [0, 1] ({InputRange.Advice})");
        }

        return inputs;
    }

    private static string Format(long[] shape) =>
        "[" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>Quotes text from the payload, cut short: rejection messages are published as events.</summary>
    private static string Quote(string text) => text.Length <= 80 ? $"'{text}'" : $"'{text[..80]}...' ({text.Length} characters)";

    private static TaskRejectedException Reject(string reason, string message) => new(reason, message);
}
