using System.Text;
using Became.Core.Serialization;

namespace Became.Core.Tests.Serialization;

/// <summary>Byte-exact files as the reference (Rust/Python) safetensors writer produces them.</summary>
public sealed class SafeTensorsGoldenTests
{
    // safetensors.torch.save_file({"a": torch.zeros(2, 2), "b": torch.arange(3, dtype=torch.int64)}):
    // the writer orders tensors by descending dtype alignment, then name, so I64 "b" comes before F32 "a";
    // no metadata was given, so there is no "__metadata__" key. The header is 112 bytes, a multiple of 8: no padding.
    private const string TorchHeader =
        "{\"b\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}," +
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[24,40]}}";

    private static byte[] TorchFile()
    {
        Assert.Equal(112, TorchHeader.Length);
        return SafeTensorsBytes.Build(TorchHeader, [.. SafeTensorsBytes.LittleEndian(0L, 1L, 2L), .. new byte[16]]);
    }

    [Fact]
    public void Pytorch_file_parses_to_its_tensors_in_data_order()
    {
        var file = SafeTensorsFile.Parse(TorchFile());

        Assert.Equal(["b", "a"], file.Tensors.Select(t => t.Name));
        Assert.Empty(file.Metadata);
    }

    [Fact]
    public void Pytorch_file_int64_tensor_has_its_values()
    {
        var b = SafeTensorsFile.Parse(TorchFile()).Find("b")!;

        Assert.Equal(SafeTensorDType.I64, b.DType);
        Assert.Equal([3L], b.Shape);
        Assert.Equal(SafeTensorsBytes.LittleEndian(0L, 1L, 2L), b.Data.ToArray());
    }

    [Fact]
    public void Pytorch_file_float_tensor_has_its_values()
    {
        var a = SafeTensorsFile.Parse(TorchFile()).Find("a")!;

        Assert.Equal(SafeTensorDType.F32, a.DType);
        Assert.Equal([2L, 2L], a.Shape);
        Assert.Equal(new byte[16], a.Data.ToArray());
    }

    [Fact]
    public void Writer_reproduces_the_pytorch_file_byte_for_byte()
    {
        var file = SafeTensorsFile.Parse(TorchFile());

        Assert.Equal(TorchFile(), SafeTensorsFile.Write(file.Tensors));
    }

    [Fact]
    public void Writer_matches_the_python_binding_test_vector()
    {
        // bindings/python/tests/test_simple.py: {"test": torch.zeros((2, 2), dtype=torch.int32)}.
        var expected = Encoding.ASCII.GetBytes(
            "@\0\0\0\0\0\0\0{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}    " +
            "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");

        var written = SafeTensorsFile.Write([new SafeTensor("test", SafeTensorDType.I32, [2, 2], new byte[16])]);

        Assert.Equal(expected, written);
    }

    [Fact]
    public void Writer_matches_the_rust_crate_test_vector()
    {
        // safetensors/src/tensor.rs test_serialization: a 64-byte header that needs no padding.
        byte[] expected =
        [
            64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
            116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
            58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
            101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
            0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
        ];
        var data = SafeTensorsBytes.LittleEndian(0f, 1f, 2f, 3f, 4f, 5f);

        var written = SafeTensorsFile.Write([new SafeTensor("attn.0", SafeTensorDType.F32, [1, 2, 3], data)]);

        Assert.Equal(expected, written);
    }
}
