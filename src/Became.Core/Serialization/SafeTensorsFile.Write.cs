using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Became.Core.Serialization;

/// <summary>Writing: the byte layout of the reference implementation, so PyTorch's safetensors reads it unchanged.</summary>
public sealed partial class SafeTensorsFile
{
    /// <summary>
    /// Serialises <paramref name="tensors"/> in the given order, with optional string metadata (keys sorted, so
    /// equal inputs give equal bytes). The header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
    /// </summary>
    public static byte[] Write(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var json = new StringBuilder("{");
        if (metadata is { Count: > 0 })
        {
            json.Append('"').Append(MetadataKey).Append("\":{");
            var first = true;
            foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                ArgumentNullException.ThrowIfNull(value, $"{nameof(metadata)}[{key}]");
                AppendString(json.Append(first ? "" : ","), key).Append(':');
                AppendString(json, value);
                first = false;
            }

            json.Append('}');
        }

        long offset = 0;
        foreach (var tensor in list)
        {
            ArgumentNullException.ThrowIfNull(tensor, nameof(tensors));
            CheckWritable(tensor, names);
            if (json.Length > 1)
            {
                json.Append(',');
            }

            AppendString(json, tensor.Name)
                .Append(":{\"dtype\":").Append('"').Append(tensor.DType).Append("\",\"shape\":[")
                .AppendJoin(',', tensor.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture)))
                .Append("],\"data_offsets\":[")
                .Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append((offset + tensor.Data.Length).ToString(CultureInfo.InvariantCulture)).Append("]}");
            offset += tensor.Data.Length;
        }

        json.Append('}');
        var header = Encoding.UTF8.GetBytes(json.ToString());
        var paddedLength = (header.Length + 7) / 8 * 8;
        if (paddedLength > MaxHeaderBytes)
        {
            throw new ArgumentException($"header would be {paddedLength} bytes, more than {MaxHeaderBytes}", nameof(metadata));
        }

        var total = LengthPrefixBytes + (long)paddedLength + offset;
        if (total > Array.MaxLength)
        {
            throw new ArgumentException($"file would be {total} bytes, more than one array can hold", nameof(tensors));
        }

        var bytes = new byte[total];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)paddedLength);
        header.CopyTo(bytes, LengthPrefixBytes);
        bytes.AsSpan(LengthPrefixBytes + header.Length, paddedLength - header.Length).Fill((byte)' ');
        var position = LengthPrefixBytes + paddedLength;
        foreach (var tensor in list)
        {
            tensor.Data.Span.CopyTo(bytes.AsSpan(position));
            position += tensor.Data.Length;
        }

        return bytes;
    }

    private static void CheckWritable(SafeTensor tensor, HashSet<string> names)
    {
        ArgumentNullException.ThrowIfNull(tensor.Name, nameof(tensor));
        if (tensor.Name == MetadataKey)
        {
            throw new ArgumentException($"'{MetadataKey}' is reserved and cannot name a tensor", nameof(tensor));
        }

        if (!names.Add(tensor.Name))
        {
            throw new ArgumentException($"duplicate tensor name '{tensor.Name}'", nameof(tensor));
        }

        if (!SafeTensorDType.TryGetSize(tensor.DType, out _))
        {
            throw new ArgumentException($"tensor '{tensor.Name}' has unknown dtype '{tensor.DType}'", nameof(tensor));
        }

        long expected;
        try
        {
            expected = tensor.ByteLength;
        }
        catch (Exception ex) when (ex is OverflowException or ArgumentOutOfRangeException)
        {
            throw new ArgumentException($"tensor '{tensor.Name}' has an invalid shape: {ex.Message}", nameof(tensor), ex);
        }

        if (tensor.Data.Length != expected)
        {
            throw new ArgumentException(
                $"tensor '{tensor.Name}' has {tensor.Data.Length} bytes but its shape and dtype need {expected}", nameof(tensor));
        }
    }

    /// <summary>Appends a JSON string escaped as serde_json does: quote, backslash and control characters only.</summary>
    private static StringBuilder AppendString(StringBuilder json, string value)
    {
        json.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                case < ' ': json.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: json.Append(c); break;
            }
        }

        return json.Append('"');
    }
}
