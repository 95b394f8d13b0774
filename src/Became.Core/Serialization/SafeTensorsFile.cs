using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Became.Core.Serialization;

/// <summary>A parsed safetensors file (the PyTorch/Hugging Face format): string metadata and tensors in data order.</summary>
public sealed partial class SafeTensorsFile
{
    /// <summary>Largest header accepted, the limit of the reference (Rust) implementation.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>The reserved header key that holds the string-to-string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    private const int LengthPrefixBytes = sizeof(ulong);

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Dictionary<string, SafeTensor> _byName;

    private SafeTensorsFile(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<SafeTensor> tensors)
    {
        Metadata = metadata;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The <c>__metadata__</c> entries; empty when the header has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors ordered by their place in the data buffer.</summary>
    public IReadOnlyList<SafeTensor> Tensors { get; }

    /// <summary>The tensor called <paramref name="name"/>, or null.</summary>
    public SafeTensor? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>
    /// Parses and validates a whole safetensors payload. Tensor data are slices of <paramref name="bytes"/>, not copies.
    /// Throws <see cref="SafeTensorsFormatException"/> naming the first problem found.
    /// </summary>
    public static SafeTensorsFile Parse(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        if (span.Length < LengthPrefixBytes)
        {
            throw Fail($"payload is {span.Length} bytes, shorter than the 8-byte header length");
        }

        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(span);
        if (headerLength > MaxHeaderBytes)
        {
            throw Fail($"header length {headerLength} is absurd: more than {MaxHeaderBytes} bytes");
        }

        var available = span.Length - LengthPrefixBytes;
        if (headerLength > (ulong)available)
        {
            throw Fail($"header length {headerLength} is larger than the {available} bytes that follow it");
        }

        var header = bytes.Slice(LengthPrefixBytes, (int)headerLength);
        var buffer = bytes[(LengthPrefixBytes + (int)headerLength)..];
        using var document = ParseHeaderJson(header);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Fail($"header is not a JSON object but {Describe(root.ValueKind)}");
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var entries = new List<(SafeTensor Tensor, long Begin, long End)>();
        foreach (var property in root.EnumerateObject())
        {
            if (!seen.Add(property.Name))
            {
                throw Fail(property.Name == MetadataKey
                    ? $"header has '{MetadataKey}' twice"
                    : $"duplicate tensor name {Quote(property.Name)}");
            }

            if (property.Name == MetadataKey)
            {
                ReadMetadata(property.Value, metadata);
            }
            else
            {
                entries.Add(ReadEntry(property.Name, property.Value, buffer));
            }
        }

        // Sorted like the reference reader, which then demands the tensors tile the buffer exactly.
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        CheckLayout(entries, buffer.Length);
        return new SafeTensorsFile(metadata, entries.Select(e => e.Tensor).ToArray());
    }

    private static JsonDocument ParseHeaderJson(ReadOnlyMemory<byte> header)
    {
        try
        {
            StrictUtf8.GetCharCount(header.Span);
        }
        catch (DecoderFallbackException ex)
        {
            throw new SafeTensorsFormatException($"header is not valid UTF-8: {ex.Message}", ex);
        }

        try
        {
            return JsonDocument.Parse(header);
        }
        catch (JsonException ex)
        {
            throw new SafeTensorsFormatException($"header is not valid JSON: {ex.Message}", ex);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Fail($"'{MetadataKey}' is {Describe(value.ValueKind)}, not an object of strings");
        }

        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw Fail($"'{MetadataKey}' value for {Quote(entry.Name)} is {Describe(entry.Value.ValueKind)}, not a string");
            }

            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
            {
                throw Fail($"'{MetadataKey}' has key {Quote(entry.Name)} twice");
            }
        }
    }

    private static (SafeTensor Tensor, long Begin, long End) ReadEntry(string name, JsonElement entry, ReadOnlyMemory<byte> buffer)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw Fail($"tensor {Quote(name)} is {Describe(entry.ValueKind)}, not an object");
        }

        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var field in entry.EnumerateObject())
        {
            // The reference reader ignores unknown fields, so this one does too.
            if ((field.Name is "dtype" or "shape" or "data_offsets") && !fields.TryAdd(field.Name, field.Value))
            {
                throw Fail($"tensor {Quote(name)} has field '{field.Name}' twice");
            }
        }

        var dtype = Field(fields, name, "dtype");
        var shapeArray = Field(fields, name, "shape");
        var offsetArray = Field(fields, name, "data_offsets");

        if (dtype.ValueKind != JsonValueKind.String)
        {
            throw Fail($"tensor {Quote(name)} has dtype {Describe(dtype.ValueKind)}, not a string");
        }

        var code = dtype.GetString()!;
        if (!SafeTensorDType.TryGetSize(code, out var elementSize))
        {
            throw Fail($"tensor {Quote(name)} has unknown dtype {Quote(code)} (known: {string.Join(", ", SafeTensorDType.All)})");
        }

        var shape = ReadIntegers(name, "shape", shapeArray);
        foreach (var dim in shape)
        {
            if (dim < 0)
            {
                throw Fail($"tensor {Quote(name)} has negative dimension {dim} in shape {Format(shape)}");
            }
        }

        var offsets = ReadIntegers(name, "data_offsets", offsetArray);
        if (offsets.Length != 2)
        {
            throw Fail($"tensor {Quote(name)} has data_offsets {Format(offsets)}; expected exactly [begin, end]");
        }

        var (begin, end) = (offsets[0], offsets[1]);
        if (begin < 0 || begin > end)
        {
            throw Fail($"tensor {Quote(name)} has data_offsets {Format(offsets)}, not [begin <= end] with begin >= 0");
        }

        if (end > buffer.Length)
        {
            throw Fail($"tensor {Quote(name)} has data_offsets {Format(offsets)} past the end of the {buffer.Length}-byte data buffer");
        }

        long expected;
        try
        {
            expected = checked(SafeTensorDType.ElementCount(shape) * elementSize);
        }
        catch (OverflowException)
        {
            throw Fail($"tensor {Quote(name)} has shape {Format(shape)} whose byte size overflows");
        }

        if (end - begin != expected)
        {
            throw Fail($"tensor {Quote(name)} has {end - begin} bytes in data_offsets {Format(offsets)} " +
                       $"but shape {Format(shape)} of {code} needs {expected} bytes");
        }

        var data = buffer.Slice((int)begin, (int)(end - begin));
        return (new SafeTensor(name, code, shape, data), begin, end);
    }

    private static JsonElement Field(Dictionary<string, JsonElement> fields, string name, string field) =>
        fields.TryGetValue(field, out var value) ? value : throw Fail($"tensor {Quote(name)} is missing field {Quote(field)}");

    private static long[] ReadIntegers(string name, string field, JsonElement array)
    {
        if (array.ValueKind != JsonValueKind.Array)
        {
            throw Fail($"tensor {Quote(name)} has {field} {Describe(array.ValueKind)}, not an array of integers");
        }

        var values = new long[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out values[i]))
            {
                throw Fail($"tensor {Quote(name)} has {field} entry {Cut(item.GetRawText())}, not an integer");
            }

            i++;
        }

        return values;
    }

    private static void CheckLayout(List<(SafeTensor Tensor, long Begin, long End)> entries, int bufferLength)
    {
        long covered = 0;
        string? previous = null;
        foreach (var (tensor, begin, end) in entries)
        {
            if (begin < covered)
            {
                throw Fail($"tensors {Quote(previous!)} and {Quote(tensor.Name)} overlap: {Quote(tensor.Name)} begins at {begin}, before {covered}");
            }

            if (begin > covered)
            {
                throw Fail($"gap in the data buffer: bytes {covered}..{begin} before tensor {Quote(tensor.Name)} belong to no tensor");
            }

            covered = end;
            previous = tensor.Name;
        }

        if (covered != bufferLength)
        {
            throw Fail($"data buffer has {bufferLength - covered} bytes after the last tensor that belong to no tensor");
        }
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    private static string Format(long[] values) =>
        "[" + string.Join(", ", values.Select(v => v.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>Quotes a name from the payload, cut short: messages travel on to logs and events.</summary>
    private static string Quote(string text) => $"'{Cut(text)}'";

    private static string Cut(string text) => text.Length <= 80 ? text : $"{text[..80]}... ({text.Length} characters)";

    private static SafeTensorsFormatException Fail(string message) => new(message);
}
