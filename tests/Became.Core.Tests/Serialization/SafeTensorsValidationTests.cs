using System.Buffers.Binary;
using Became.Core.Serialization;

namespace Became.Core.Tests.Serialization;

public sealed class SafeTensorsValidationTests
{
    private static string Entry(string name, string dtype = "U8", string shape = "[4]", string offsets = "[0,4]") =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":{offsets}}}";

    private static void AssertRejected(byte[] payload, string phrase)
    {
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Parse(payload));
        Assert.Contains(phrase, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Well_formed_hand_built_payload_is_accepted()
    {
        var file = SafeTensorsFile.Parse(SafeTensorsBytes.Build("{" + Entry("a") + "}", new byte[4]));

        Assert.Single(file.Tensors);
    }

    [Fact]
    public void Payload_shorter_than_8_bytes_is_rejected() =>
        AssertRejected(new byte[7], "shorter than the 8-byte header length");

    [Fact]
    public void Header_length_past_the_payload_is_rejected()
    {
        var payload = SafeTensorsBytes.Build("{}");
        BinaryPrimitives.WriteUInt64LittleEndian(payload, 3);

        AssertRejected(payload, "header length 3 is larger than the 2 bytes that follow it");
    }

    [Fact]
    public void Absurd_header_length_is_rejected()
    {
        var payload = SafeTensorsBytes.Build("{}");
        BinaryPrimitives.WriteUInt64LittleEndian(payload, 100_000_001);

        AssertRejected(payload, "absurd");
    }

    [Fact]
    public void Header_length_near_u64_max_is_rejected_as_absurd()
    {
        var payload = SafeTensorsBytes.Build("{}");
        BinaryPrimitives.WriteUInt64LittleEndian(payload, ulong.MaxValue);

        AssertRejected(payload, "absurd");
    }

    [Fact]
    public void Header_that_is_not_utf8_is_rejected() =>
        AssertRejected(SafeTensorsBytes.Build([(byte)'{', 0xC3, 0x28, (byte)'}']), "not valid UTF-8");

    [Fact]
    public void Header_that_is_not_json_is_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{\"a\":"), "not valid JSON");

    [Fact]
    public void Header_that_is_not_an_object_is_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("[1,2]"), "not a JSON object but an array");

    [Theory]
    [InlineData("{\"shape\":[4],\"data_offsets\":[0,4]}", "missing field 'dtype'")]
    [InlineData("{\"dtype\":\"U8\",\"data_offsets\":[0,4]}", "missing field 'shape'")]
    [InlineData("{\"dtype\":\"U8\",\"shape\":[4]}", "missing field 'data_offsets'")]
    public void Tensor_entry_missing_a_field_is_rejected(string entry, string phrase) =>
        AssertRejected(SafeTensorsBytes.Build("{\"a\":" + entry + "}", new byte[4]), phrase);

    [Fact]
    public void Tensor_entry_that_is_not_an_object_is_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{\"a\":[1]}"), "tensor 'a' is an array, not an object");

    [Fact]
    public void Tensor_entry_with_a_repeated_field_is_rejected() =>
        AssertRejected(
            SafeTensorsBytes.Build("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", new byte[4]),
            "field 'dtype' twice");

    [Fact]
    public void Unknown_dtype_is_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{" + Entry("a", dtype: "Q7") + "}", new byte[4]), "unknown dtype 'Q7'");

    [Fact]
    public void Negative_dimension_is_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{" + Entry("a", shape: "[-2,-2]") + "}", new byte[4]), "negative dimension -2");

    [Fact]
    public void Fractional_dimension_is_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{" + Entry("a", shape: "[4.5]") + "}", new byte[4]), "shape entry 4.5, not an integer");

    [Fact]
    public void Offsets_with_begin_after_end_are_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{" + Entry("a", shape: "[0]", offsets: "[4,0]") + "}", new byte[4]), "not [begin <= end]");

    [Fact]
    public void Offsets_past_the_buffer_are_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{" + Entry("a", shape: "[8]", offsets: "[0,8]") + "}", new byte[4]), "past the end of the 4-byte data buffer");

    [Fact]
    public void Offsets_that_are_not_a_pair_are_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{" + Entry("a", offsets: "[0,2,4]") + "}", new byte[4]), "expected exactly [begin, end]");

    [Fact]
    public void Byte_length_that_does_not_match_shape_and_dtype_is_rejected() =>
        AssertRejected(
            SafeTensorsBytes.Build("{" + Entry("a", dtype: "F32", shape: "[2]", offsets: "[0,4]") + "}", new byte[4]),
            "has 4 bytes in data_offsets [0, 4] but shape [2] of F32 needs 8 bytes");

    [Fact]
    public void Shape_whose_byte_size_overflows_is_rejected() =>
        AssertRejected(
            SafeTensorsBytes.Build("{" + Entry("a", dtype: "F64", shape: "[4294967296,4294967296]") + "}", new byte[4]),
            "overflows");

    [Fact]
    public void Byte_size_overflowing_only_after_the_element_size_is_rejected() =>
        AssertRejected(
            SafeTensorsBytes.Build("{" + Entry("a", dtype: "F64", shape: "[2305843009213693952]") + "}", new byte[4]),
            "overflows");

    [Fact]
    public void Overlapping_tensors_are_rejected() =>
        AssertRejected(
            SafeTensorsBytes.Build("{" + Entry("a") + "," + Entry("b", offsets: "[2,6]") + "}", new byte[6]),
            "tensors 'a' and 'b' overlap");

    [Fact]
    public void Gap_between_tensors_is_rejected() =>
        AssertRejected(
            SafeTensorsBytes.Build("{" + Entry("a") + "," + Entry("b", offsets: "[6,10]") + "}", new byte[10]),
            "gap in the data buffer: bytes 4..6");

    [Fact]
    public void Trailing_bytes_after_the_last_tensor_are_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{" + Entry("a") + "}", new byte[5]), "1 bytes after the last tensor");

    [Fact]
    public void Metadata_value_that_is_not_a_string_is_rejected() =>
        AssertRejected(
            SafeTensorsBytes.Build("{\"__metadata__\":{\"classes\":10}," + Entry("a") + "}", new byte[4]),
            "value for 'classes' is a number, not a string");

    [Fact]
    public void Metadata_that_is_not_an_object_is_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{\"__metadata__\":\"x\"}"), "'__metadata__' is a string, not an object of strings");

    [Fact]
    public void Metadata_with_a_repeated_key_is_rejected() =>
        AssertRejected(SafeTensorsBytes.Build("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), "has key 'k' twice");

    [Fact]
    public void Duplicate_tensor_names_are_rejected() =>
        AssertRejected(
            SafeTensorsBytes.Build("{" + Entry("a") + "," + Entry("a", offsets: "[4,8]") + "}", new byte[8]),
            "duplicate tensor name 'a'");

    [Fact]
    public void Long_names_are_cut_short_in_messages()
    {
        var name = new string('n', 5000);
        var ex = Assert.Throws<SafeTensorsFormatException>(() =>
            SafeTensorsFile.Parse(SafeTensorsBytes.Build("{" + Entry(name, dtype: "Q7") + "}", new byte[4])));

        Assert.Contains("... (5000 characters)", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length < 500, $"message is {ex.Message.Length} characters");
    }
}
