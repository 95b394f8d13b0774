using System.IO.Compression;

namespace Became.Core.Data;

/// <summary>The contents of one IDX file: its dimensions and its unsigned-byte payload in row-major order.</summary>
public sealed record IdxArray(int[] Shape, byte[] Data)
{
    /// <summary>Number of items along the first dimension (images, labels).</summary>
    public int Count => Shape[0];
}

/// <summary>Reads IDX files (the MNIST format), raw or gzip-compressed.</summary>
public static class IdxReader
{
    private const byte UnsignedByteType = 0x08;

    /// <summary>Reads an IDX file; gzip is detected from the content (0x1f 0x8b), not the file name.</summary>
    public static IdxArray Read(string path)
    {
        using var file = File.OpenRead(path);
        var isGzip = file.ReadByte() == 0x1f && file.ReadByte() == 0x8b;
        file.Position = 0;
        if (!isGzip)
        {
            return Read(file, path);
        }

        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        try
        {
            return Read(gzip, path);
        }
        catch (InvalidDataException ex) when (!ex.Message.StartsWith(path, StringComparison.Ordinal))
        {
            // A corrupt gzip stream throws without saying which file.
            throw new InvalidDataException($"{path}: corrupt gzip data: {ex.Message}", ex);
        }
    }

    /// <summary>Reads an IDX array from an uncompressed stream; <paramref name="source"/> names it in errors.</summary>
    public static IdxArray Read(Stream stream, string source)
    {
        var header = new byte[4];
        if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length)
        {
            throw new InvalidDataException($"{source}: file ends inside the 4-byte IDX header.");
        }

        if (header[0] != 0 || header[1] != 0)
        {
            throw new InvalidDataException(
                $"{source}: not an IDX file: magic starts 0x{header[0]:x2} 0x{header[1]:x2}, expected two zero bytes.");
        }

        if (header[2] != UnsignedByteType)
        {
            throw new InvalidDataException(
                $"{source}: unsupported IDX element type 0x{header[2]:x2} ({TypeName(header[2])}); only 0x08 (unsigned byte) is supported.");
        }

        int rank = header[3];
        if (rank is < 1 or > 4)
        {
            throw new InvalidDataException($"{source}: IDX file has {rank} dimensions; expected 1 to 4.");
        }

        var dims = new byte[4 * rank];
        if (stream.ReadAtLeast(dims, dims.Length, throwOnEndOfStream: false) < dims.Length)
        {
            throw new InvalidDataException($"{source}: file ends inside the IDX dimension list ({rank} dimensions).");
        }

        var shape = new int[rank];
        long expected = 1;
        for (var i = 0; i < rank; i++)
        {
            shape[i] = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(dims.AsSpan(4 * i));
            if (shape[i] <= 0)
            {
                throw new InvalidDataException($"{source}: IDX dimension {i} is {shape[i]}; dimensions must be positive.");
            }

            expected *= shape[i];
            if (expected > Array.MaxLength)
            {
                throw new InvalidDataException($"{source}: IDX shape [{string.Join(", ", shape[..(i + 1)])}...] is too large to load.");
            }
        }

        var data = new byte[expected];
        var found = (long)stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        if (found == expected)
        {
            found += CountRemaining(stream);
        }

        if (found != expected)
        {
            var problem = found < expected ? "truncated" : "trailing data";
            throw new InvalidDataException(
                $"{source}: {problem}: shape [{string.Join(", ", shape)}] needs {expected} payload bytes but {found} were found.");
        }

        return new IdxArray(shape, data);
    }

    private static long CountRemaining(Stream stream)
    {
        var buffer = new byte[8192];
        long total = 0;
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            total += read;
        }

        return total;
    }

    private static string TypeName(byte code) => code switch
    {
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown type",
    };
}
