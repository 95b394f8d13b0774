using static TorchSharp.torch;

namespace Became.Core.Serialization;

/// <summary>TorchSharp interop: copies between safetensors bytes and CPU tensors (both little-endian on every target).</summary>
public sealed partial class SafeTensorsFile
{
    /// <summary>Kept apart so parsing never loads TorchSharp.</summary>
    private static class TorchTypes
    {
        public static readonly Dictionary<string, ScalarType> ToScalar = new(StringComparer.Ordinal)
        {
            [SafeTensorDType.Bool] = ScalarType.Bool,
            [SafeTensorDType.U8] = ScalarType.Byte,
            [SafeTensorDType.I8] = ScalarType.Int8,
            [SafeTensorDType.I16] = ScalarType.Int16,
            [SafeTensorDType.I32] = ScalarType.Int32,
            [SafeTensorDType.I64] = ScalarType.Int64,
            [SafeTensorDType.F16] = ScalarType.Float16,
            [SafeTensorDType.BF16] = ScalarType.BFloat16,
            [SafeTensorDType.F32] = ScalarType.Float32,
            [SafeTensorDType.F64] = ScalarType.Float64,
            [SafeTensorDType.C64] = ScalarType.ComplexFloat32,
        };

        public static readonly Dictionary<ScalarType, string> FromScalar = ToScalar.ToDictionary(p => p.Value, p => p.Key);
    }

    /// <summary>The safetensors dtype code of a TorchSharp dtype (e.g. <c>F32</c>); throws
    /// <see cref="NotSupportedException"/> for one safetensors has no code for.</summary>
    public static string DTypeOf(ScalarType dtype) => TorchTypes.FromScalar.TryGetValue(dtype, out var code)
        ? code
        : throw new NotSupportedException($"dtype {dtype} has no safetensors code");

    /// <summary>
    /// A new CPU tensor with <paramref name="t"/>'s dtype, shape and a copy of its data. It follows TorchSharp's usual
    /// rules (joins the current dispose scope, if any); the caller owns it. Unsigned types wider than a byte and
    /// float8 have no TorchSharp dtype and throw <see cref="NotSupportedException"/>.
    /// </summary>
    public static Tensor ToTensor(SafeTensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (!TorchTypes.ToScalar.TryGetValue(t.DType, out var scalar))
        {
            throw new NotSupportedException($"tensor '{t.Name}' has dtype '{t.DType}', which TorchSharp has no type for");
        }

        if (t.Data.Length != t.ByteLength)
        {
            throw new ArgumentException($"tensor '{t.Name}' has {t.Data.Length} bytes but its shape and dtype need {t.ByteLength}", nameof(t));
        }

        var result = empty(t.Shape, dtype: scalar);
        try
        {
            if (t.Data.Length > 0)
            {
                var target = result.bytes; // A view of the new tensor's own storage.
                t.Data.Span.CopyTo(target);
                if (scalar == ScalarType.Bool)
                {
                    // A bool byte other than 0 or 1 is undefined behaviour in libtorch; anything non-zero means true.
                    foreach (ref var b in target)
                    {
                        b = b == 0 ? (byte)0 : (byte)1;
                    }
                }
            }
        }
        catch
        {
            result.Dispose();
            throw;
        }

        return result;
    }

    /// <summary>A safetensors copy of <paramref name="t"/>'s values (moved to CPU and made contiguous on the way, if needed).</summary>
    public static SafeTensor FromTensor(string name, Tensor t)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(t);
        if (!TorchTypes.FromScalar.TryGetValue(t.dtype, out var dtype))
        {
            throw new NotSupportedException($"tensor '{name}' has dtype {t.dtype}, which safetensors has no code for");
        }

        // cpu() and contiguous() always return new handles, so disposing them never touches the caller's tensor.
        using var cpu = t.cpu();
        using var dense = cpu.contiguous();
        var data = dense.numel() == 0 ? [] : dense.bytes.ToArray();
        return new SafeTensor(name, dtype, dense.shape, data);
    }
}
