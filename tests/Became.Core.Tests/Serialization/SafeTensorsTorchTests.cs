using Became.Core.Serialization;
using Became.Core.Tests.Data;
using static TorchSharp.torch;

namespace Became.Core.Tests.Serialization;

public sealed class SafeTensorsTorchTests
{
    [Fact]
    public void Float_tensor_comes_back_with_dtype_shape_and_values()
    {
        using var scope = NewDisposeScope();
        var source = arange(6, dtype: ScalarType.Float32).reshape(2, 3);

        var copy = SafeTensorsFile.ToTensor(SafeTensorsFile.FromTensor("w", source));

        Assert.Equal(ScalarType.Float32, copy.dtype);
        Assert.Equal([2L, 3L], copy.shape);
        Assert.True(TensorAssert.Same(source, copy));
    }

    [Theory]
    [InlineData(ScalarType.Byte, "U8")]
    [InlineData(ScalarType.Int8, "I8")]
    [InlineData(ScalarType.Int16, "I16")]
    [InlineData(ScalarType.Int32, "I32")]
    [InlineData(ScalarType.Int64, "I64")]
    [InlineData(ScalarType.Float16, "F16")]
    [InlineData(ScalarType.BFloat16, "BF16")]
    [InlineData(ScalarType.Float64, "F64")]
    [InlineData(ScalarType.Bool, "BOOL")]
    public void Each_dtype_maps_to_its_code_and_back(ScalarType scalar, string code)
    {
        using var scope = NewDisposeScope();
        var source = arange(8).remainder(2).to_type(scalar).reshape(2, 4);

        var saved = SafeTensorsFile.FromTensor("t", source);
        var copy = SafeTensorsFile.ToTensor(saved);

        Assert.Equal(code, saved.DType);
        Assert.Equal(scalar, copy.dtype);
        Assert.True(TensorAssert.Same(source, copy));
    }

    [Fact]
    public void Non_contiguous_tensor_is_saved_in_row_major_order()
    {
        using var scope = NewDisposeScope();
        var transposed = arange(6, dtype: ScalarType.Int64).reshape(2, 3).t();

        var saved = SafeTensorsFile.FromTensor("t", transposed);

        Assert.Equal([3L, 2L], saved.Shape);
        Assert.Equal(SafeTensorsBytes.LittleEndian(0L, 3L, 1L, 4L, 2L, 5L), saved.Data.ToArray());
    }

    [Fact]
    public void Saving_leaves_the_source_tensor_usable()
    {
        using var scope = NewDisposeScope();
        var source = ones(3);

        SafeTensorsFile.FromTensor("t", source);

        Assert.Equal(3f, source.sum().item<float>());
    }

    [Fact]
    public void Loaded_tensor_does_not_share_memory_with_the_payload()
    {
        using var scope = NewDisposeScope();
        var data = SafeTensorsBytes.LittleEndian(1f, 2f);

        var tensor = SafeTensorsFile.ToTensor(new SafeTensor("t", "F32", [2], data));
        data[0] = 0xFF;

        Assert.Equal(1f, tensor[0].item<float>());
    }

    [Fact]
    public void Non_zero_bool_bytes_load_as_true()
    {
        using var scope = NewDisposeScope();

        var tensor = SafeTensorsFile.ToTensor(new SafeTensor("t", "BOOL", [3], new byte[] { 0, 1, 7 }));

        Assert.Equal([false, true, true], tensor.data<bool>().ToArray());
        Assert.Equal(1, tensor.to_type(ScalarType.Byte)[2].item<byte>());
    }

    [Fact]
    public void Scalar_and_empty_tensors_convert()
    {
        using var scope = NewDisposeScope();

        var scalar = SafeTensorsFile.ToTensor(SafeTensorsFile.FromTensor("s", tensor(2.5)));
        var none = SafeTensorsFile.ToTensor(SafeTensorsFile.FromTensor("e", zeros(0, 3)));

        Assert.Equal((0L, 2.5), ((long)scalar.dim(), scalar.item<double>()));
        Assert.Equal([0L, 3L], none.shape);
    }

    [Fact]
    public void Parsed_file_loads_into_tensors()
    {
        using var scope = NewDisposeScope();
        var bytes = SafeTensorsFile.Write([SafeTensorsFile.FromTensor("w", arange(4, dtype: ScalarType.Float32))]);

        var loaded = SafeTensorsFile.ToTensor(SafeTensorsFile.Parse(bytes).Find("w")!);

        Assert.Equal([0f, 1f, 2f, 3f], loaded.data<float>().ToArray());
    }

    [Fact]
    public void Dtype_without_a_torch_type_is_not_supported()
    {
        var ex = Assert.Throws<NotSupportedException>(() =>
            SafeTensorsFile.ToTensor(new SafeTensor("t", "U16", [1], new byte[2])));

        Assert.Contains("'U16'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Data_that_does_not_match_the_shape_is_refused()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            SafeTensorsFile.ToTensor(new SafeTensor("t", "F32", [2], new byte[4])));

        Assert.Contains("need 8", ex.Message, StringComparison.Ordinal);
    }
}
