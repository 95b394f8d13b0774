namespace Became.Core.Serialization;

/// <summary>One named tensor of a safetensors file: dtype code, shape and little-endian, row-major bytes.</summary>
/// <remarks>A parsed tensor's <see cref="Data"/> is a slice of the parsed payload, not a copy.</remarks>
public sealed record SafeTensor(string Name, string DType, long[] Shape, ReadOnlyMemory<byte> Data)
{
    /// <summary>Product of the dimensions (1 for a scalar); throws <see cref="OverflowException"/> past <see cref="long.MaxValue"/>.</summary>
    public long ElementCount => SafeTensorDType.ElementCount(Shape);

    /// <summary>Bytes per element of <see cref="DType"/>; throws <see cref="ArgumentException"/> for an unknown dtype.</summary>
    public int ElementSize => SafeTensorDType.SizeOf(DType);

    /// <summary>Bytes the shape and dtype call for: <see cref="ElementCount"/> × <see cref="ElementSize"/>.</summary>
    public long ByteLength => checked(ElementCount * ElementSize);
}

/// <summary>The safetensors dtype codes this reader knows and their element sizes.</summary>
public static class SafeTensorDType
{
    public const string Bool = "BOOL";
    public const string U8 = "U8";
    public const string I8 = "I8";
    public const string I16 = "I16";
    public const string U16 = "U16";
    public const string F16 = "F16";
    public const string BF16 = "BF16";
    public const string I32 = "I32";
    public const string U32 = "U32";
    public const string F32 = "F32";
    public const string C64 = "C64";
    public const string F64 = "F64";
    public const string I64 = "I64";
    public const string U64 = "U64";
    public const string F8E5M2 = "F8_E5M2";
    public const string F8E4M3 = "F8_E4M3";

    // Sub-byte dtypes (F4, F6_*) are left out: their slices need bit packing this project never uses.
    private static readonly Dictionary<string, int> Sizes = new(StringComparer.Ordinal)
    {
        [Bool] = 1, [U8] = 1, [I8] = 1, [F8E5M2] = 1, [F8E4M3] = 1,
        [I16] = 2, [U16] = 2, [F16] = 2, [BF16] = 2,
        [I32] = 4, [U32] = 4, [F32] = 4,
        [C64] = 8, [F64] = 8, [I64] = 8, [U64] = 8,
    };

    /// <summary>All known dtype codes.</summary>
    public static IReadOnlyCollection<string> All => Sizes.Keys;

    /// <summary>Element size of <paramref name="dtype"/>, or false when the code is unknown.</summary>
    public static bool TryGetSize(string dtype, out int size) => Sizes.TryGetValue(dtype, out size);

    /// <summary>Element size of <paramref name="dtype"/>; throws <see cref="ArgumentException"/> when the code is unknown.</summary>
    public static int SizeOf(string dtype) =>
        TryGetSize(dtype, out var size)
            ? size
            : throw new ArgumentException($"unknown safetensors dtype '{dtype}'", nameof(dtype));

    /// <summary>Product of <paramref name="shape"/>; throws on a negative dimension or overflow.</summary>
    public static long ElementCount(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (var dim in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(dim, nameof(shape));
            count = checked(count * dim);
        }

        return count;
    }
}
