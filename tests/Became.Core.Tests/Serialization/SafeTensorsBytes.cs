using System.Buffers.Binary;
using System.Text;

namespace Became.Core.Tests.Serialization;

/// <summary>Builds safetensors payloads by hand, so tests can say exactly which bytes the parser sees.</summary>
internal static class SafeTensorsBytes
{
    /// <summary>8-byte little-endian length, then <paramref name="header"/> as UTF-8 (unpadded), then <paramref name="data"/>.</summary>
    public static byte[] Build(string header, byte[]? data = null) => Build(Encoding.UTF8.GetBytes(header), data);

    public static byte[] Build(byte[] header, byte[]? data = null)
    {
        data ??= [];
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    public static byte[] LittleEndian(params long[] values)
    {
        var bytes = new byte[8 * values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8 * i), values[i]);
        }

        return bytes;
    }

    public static byte[] LittleEndian(params float[] values)
    {
        var bytes = new byte[4 * values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        }

        return bytes;
    }
}
