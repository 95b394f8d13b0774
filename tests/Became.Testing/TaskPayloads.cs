using System.Buffers.Binary;
using Became.Agent.Intake;
using Became.Core.Serialization;
using Became.Protocol;

namespace Became.Testing;

/// <summary>Builds task payloads for the decoder tests.</summary>
internal static class TaskPayloads
{
    public const int Features = 784;

    /// <summary>784 features, default size caps.</summary>
    public static readonly TaskPayloadLimits Limits = new(Features);

    /// <summary>uint8 images: pixel (i, j) of sample s is (s + i + j) mod 256.</summary>
    public static SafeTensor ByteImages(long[] shape)
    {
        var data = new byte[SafeTensorDType.ElementCount(shape)];
        var perSample = (int)SafeTensorDType.ElementCount(shape.AsSpan(1));
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(i / perSample + i % perSample);
        }

        return new SafeTensor("x", SafeTensorDType.U8, shape, data);
    }

    public static SafeTensor Floats(string name, long[] shape, Func<int, float> value)
    {
        var count = (int)SafeTensorDType.ElementCount(shape);
        var data = new byte[4 * count];
        for (var i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4 * i), value(i));
        }

        return new SafeTensor(name, SafeTensorDType.F32, shape, data);
    }

    public static SafeTensor Labels(params long[] labels) => Labels(SafeTensorDType.I64, labels);

    public static SafeTensor Labels(string dtype, params long[] labels)
    {
        var size = SafeTensorDType.SizeOf(dtype);
        var data = new byte[size * labels.Length];
        for (var i = 0; i < labels.Length; i++)
        {
            switch (size)
            {
                case 1: data[i] = (byte)labels[i]; break;
                case 4: BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4 * i), (int)labels[i]); break;
                default: BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8 * i), labels[i]); break;
            }
        }

        return new SafeTensor("y", dtype, [labels.Length], data);
    }

    public static byte[] Build(params SafeTensor[] tensors) => SafeTensorsFile.Write(tensors);

    public static byte[] Build(Dictionary<string, string> metadata, params SafeTensor[] tensors) =>
        SafeTensorsFile.Write(tensors, metadata);

    /// <summary>Four 784-feature uint8 samples labelled 0, 1, 2, 1.</summary>
    public static byte[] Valid(Dictionary<string, string>? metadata = null) =>
        SafeTensorsFile.Write([ByteImages([4, Features]), Labels(0, 1, 2, 1)], metadata);
}

