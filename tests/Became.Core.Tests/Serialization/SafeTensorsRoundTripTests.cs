using System.Buffers.Binary;
using System.Text;
using Became.Core.Serialization;

namespace Became.Core.Tests.Serialization;

public sealed class SafeTensorsRoundTripTests
{
    private static SafeTensor Filled(string name, string dtype, long[] shape, int seed)
    {
        var length = SafeTensorDType.ElementCount(shape) * SafeTensorDType.SizeOf(dtype);
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        if (dtype == SafeTensorDType.Bool)
        {
            data = data.Select(b => (byte)(b & 1)).ToArray();
        }

        return new SafeTensor(name, dtype, shape, data);
    }

    [Fact]
    public void Every_listed_dtype_round_trips_with_shape_and_bytes()
    {
        string[] dtypes = ["U8", "I8", "I16", "I32", "I64", "F16", "BF16", "F32", "F64", "BOOL"];
        var tensors = dtypes.Select((d, i) => Filled($"t.{d}", d, [2, i + 1], seed: i)).ToArray();

        var file = SafeTensorsFile.Parse(SafeTensorsFile.Write(tensors));

        Assert.Equal(tensors.Length, file.Tensors.Count);
        foreach (var expected in tensors)
        {
            var actual = file.Find(expected.Name)!;
            Assert.Equal(expected.DType, actual.DType);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.Equal(expected.Data.ToArray(), actual.Data.ToArray());
        }
    }

    [Fact]
    public void Metadata_round_trips_including_characters_that_need_escaping()
    {
        var metadata = new Dictionary<string, string>
        {
            ["name"] = "split \"0\" \\ v2",
            ["note"] = "tab\there, newline\n, bell\u0007, é, 日本",
        };

        var file = SafeTensorsFile.Parse(SafeTensorsFile.Write([Filled("w", "F32", [3], 1)], metadata));

        Assert.Equal(metadata.OrderBy(p => p.Key), file.Metadata.OrderBy(p => p.Key));
    }

    [Fact]
    public void Scalar_and_empty_tensors_round_trip()
    {
        SafeTensor[] tensors = [Filled("scalar", "F64", [], 2), new SafeTensor("none", "F32", [0, 3], Array.Empty<byte>())];

        var file = SafeTensorsFile.Parse(SafeTensorsFile.Write(tensors));

        Assert.Equal(8, file.Find("scalar")!.Data.Length);
        Assert.Equal(new long[] { 0, 3 }, file.Find("none")!.Shape);
    }

    [Fact]
    public void Header_is_padded_with_spaces_to_a_multiple_of_8()
    {
        var bytes = SafeTensorsFile.Write([Filled("abc", "U8", [5], 3)]);

        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = Encoding.UTF8.GetString(bytes, 8, headerLength);
        // 55 bytes of JSON, so one space brings it to 56.
        Assert.Equal("{\"abc\":{\"dtype\":\"U8\",\"shape\":[5],\"data_offsets\":[0,5]}} ", header);
        Assert.Equal(8 + headerLength + 5, bytes.Length);
    }

    [Fact]
    public void Tensors_are_laid_out_in_the_order_given()
    {
        var bytes = SafeTensorsFile.Write([Filled("z", "U8", [4], 4), Filled("a", "U8", [2], 5)]);

        var file = SafeTensorsFile.Parse(bytes);
        Assert.Equal(["z", "a"], file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Metadata_key_is_written_first_and_sorted()
    {
        var metadata = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" };

        var bytes = SafeTensorsFile.Write([new SafeTensor("t", "U8", [1], new byte[1])], metadata);

        var header = Encoding.UTF8.GetString(bytes, 8, (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.StartsWith("{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\"},\"t\":", header, StringComparison.Ordinal);
    }

    [Fact]
    public void Find_returns_null_for_an_absent_name()
    {
        var file = SafeTensorsFile.Parse(SafeTensorsFile.Write([Filled("w", "F32", [1], 6)]));

        Assert.Null(file.Find("missing"));
    }

    [Fact]
    public void Element_count_and_size_follow_shape_and_dtype()
    {
        var tensor = new SafeTensor("t", "BF16", [2, 3, 4], new byte[48]);

        Assert.Equal((24L, 2, 48L), (tensor.ElementCount, tensor.ElementSize, tensor.ByteLength));
    }

    [Fact]
    public void Writer_rejects_data_that_does_not_match_the_shape()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            SafeTensorsFile.Write([new SafeTensor("t", "F32", [2], new byte[7])]));

        Assert.Contains("has 7 bytes but its shape and dtype need 8", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Writer_rejects_duplicate_names()
    {
        var t = new SafeTensor("t", "U8", [1], new byte[1]);

        var ex = Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write([t, t]));

        Assert.Contains("duplicate tensor name 't'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Writer_rejects_the_reserved_metadata_name()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            SafeTensorsFile.Write([new SafeTensor("__metadata__", "U8", [1], new byte[1])]));

        Assert.Contains("reserved", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Writer_rejects_an_unknown_dtype()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            SafeTensorsFile.Write([new SafeTensor("t", "F4", [2], new byte[1])]));

        Assert.Contains("unknown dtype 'F4'", ex.Message, StringComparison.Ordinal);
    }
}
