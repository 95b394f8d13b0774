using System.Text;
using Became.Core.Serialization;
using Became.Protocol;
using static Became.Testing.TaskPayloads;

namespace Became.Agent.Tests.ProtocolChecks;

/// <summary>The safetensors task format: what Decode returns, and each rejection — which Inspect, the header-only
/// check intake and `became publish` use, gives with the same code and message (every rejection case goes through
/// <see cref="Rejected"/>, which asks both).</summary>
public sealed class SafetensorsTaskFormatTests
{
    private static readonly ITaskPayloadFormat Format = TaskPayloadFormats.Safetensors;

    private static TaskRejectedException Rejected(byte[] payload, string reason, string phrase, TaskPayloadLimits? limits = null)
    {
        var ex = Assert.Throws<TaskRejectedException>(() => Format.Decode(payload, limits ?? Limits));
        Assert.Equal(reason, ex.Reason);
        Assert.Contains(phrase, ex.Message, StringComparison.Ordinal);

        var inspected = Assert.Throws<TaskRejectedException>(() => Format.Inspect(payload, limits ?? Limits));
        Assert.Equal((ex.Reason, ex.Message), (inspected.Reason, inspected.Message));
        Assert.Equal(ex.InnerException?.GetType(), inspected.InnerException?.GetType());
        return ex;
    }

    private static byte[] WithMetadata(string key, string value) => Valid(new Dictionary<string, string> { [key] = value });

    [Fact]
    public void Uint8_images_of_shape_n_28_28_decode_to_raw_byte_values()
    {
        var task = Format.Decode(Build(ByteImages([4, 28, 28]), Labels(0, 1, 2, 1)), Limits);

        Assert.Equal((4, 784, true), (task.Count, task.Features, task.InputsAreBytes));
        Assert.Equal(4 * 784, task.Inputs.Length);
        Assert.Equal([0f, 1f, 255f, 0f], [task.Inputs[0], task.Inputs[1], task.Inputs[255], task.Inputs[256]]);
        Assert.Equal(3f, task.Inputs[2 * 784 + 1]);
        Assert.Equal([0L, 1L, 2L, 1L], task.Labels);
    }

    [Fact]
    public void Float32_inputs_of_shape_n_784_decode_as_given()
    {
        var x = Floats("x", [3, 784], i => i / 4096f - 0.25f);

        var task = Format.Decode(Build(x, Labels(1, 0, 1)), Limits);

        Assert.False(task.InputsAreBytes);
        Assert.Equal(3, task.Count);
        Assert.Equal([-0.25f, 1 / 4096f - 0.25f], task.Inputs[..2]);
        Assert.Equal((3 * 784 - 1) / 4096f - 0.25f, task.Inputs[^1]);
    }

    [Fact]
    public void Inputs_of_shape_n_1_28_28_are_accepted()
    {
        var task = Format.Decode(Build(ByteImages([2, 1, 28, 28]), Labels(0, 1)), Limits);

        Assert.Equal(2 * 784, task.Inputs.Length);
    }

    [Theory]
    [InlineData("U8")]
    [InlineData("I32")]
    [InlineData("I64")]
    public void Labels_are_read_from_each_accepted_dtype(string dtype)
    {
        var task = Format.Decode(Build(ByteImages([3, 784]), Labels(dtype, 4, 0, 255)), Limits);

        Assert.Equal([4L, 0L, 255L], task.Labels);
    }

    [Fact]
    public void Missing_metadata_gives_the_defaults()
    {
        var task = Format.Decode(Valid(), Limits);

        Assert.Null(task.Name);
        Assert.Equal(3, task.Classes);
        Assert.Equal(0.1, task.TestFraction);
    }

    [Fact]
    public void Metadata_sets_name_classes_and_test_fraction()
    {
        var metadata = new Dictionary<string, string> { ["name"] = "split 0", ["classes"] = "10", ["test_fraction"] = "0.25" };

        var task = Format.Decode(Valid(metadata), Limits);

        Assert.Equal(("split 0", 10, 0.25), (task.Name, task.Classes, task.TestFraction));
    }

    [Fact]
    public void Test_count_is_the_floored_fraction_of_the_samples()
    {
        var task = new DecodedTask(null, 2, 0.1, 999, 1, [], true, []);

        Assert.Equal(99, task.TestCount);
    }

    [Fact]
    public void Test_count_is_capped_at_2000_samples()
    {
        var task = new DecodedTask(null, 2, 0.5, 100_000, 1, [], true, []);

        Assert.Equal(2_000, task.TestCount);
    }

    [Fact]
    public void Payload_over_the_byte_limit_is_too_large_before_it_is_parsed()
    {
        var garbage = new byte[1025];

        Rejected(garbage, "too_large", "payload is 1025 bytes; the limit is 1024 bytes", Limits with { MaxPayloadBytes = 1024 });
    }

    [Fact]
    public void More_samples_than_allowed_is_too_large()
    {
        Rejected(Valid(), "too_large", "payload has 4 samples; the limit is 3", Limits with { MaxSamples = 3 });
    }

    [Fact]
    public void Unparseable_payload_is_not_safetensors_and_carries_the_parser_message()
    {
        var ex = Rejected(Encoding.ASCII.GetBytes("hello"), "not_safetensors", "shorter than the 8-byte header length");

        Assert.IsType<SafeTensorsFormatException>(ex.InnerException);
    }

    [Fact]
    public void Missing_x_is_a_missing_tensor()
    {
        Rejected(Build(Labels(0, 1)), "missing_tensor", "no tensor 'x' (it has: 'y')");
    }

    [Fact]
    public void Missing_y_is_a_missing_tensor()
    {
        Rejected(Build(ByteImages([2, 784])), "missing_tensor", "no tensor 'y'");
    }

    [Fact]
    public void Integer_inputs_are_a_bad_dtype()
    {
        var x = new SafeTensor("x", SafeTensorDType.I64, [2, 784], new byte[8 * 2 * 784]);

        Rejected(Build(x, Labels(0, 1)), "bad_dtype", "x has dtype I64; expected U8 (uint8) or F32 (float32)");
    }

    [Fact]
    public void Float_labels_are_a_bad_dtype()
    {
        Rejected(Build(ByteImages([2, 784]), Floats("y", [2], i => i)), "bad_dtype", "y has dtype F32");
    }

    [Fact]
    public void Inputs_with_the_wrong_feature_count_are_a_bad_shape()
    {
        Rejected(
            Build(ByteImages([10, 27, 28]), Labels(Enumerable.Range(0, 10).Select(i => (long)(i % 2)).ToArray())),
            "bad_shape",
            "x has shape [10, 27, 28] (756 features per sample); expected [N, 784]");
    }

    [Fact]
    public void Inputs_of_rank_1_are_a_bad_shape()
    {
        Rejected(Build(ByteImages([784]), Labels(0, 1)), "bad_shape", "x has shape [784] (rank 1)");
    }

    [Fact]
    public void Labels_of_rank_2_are_a_bad_shape()
    {
        var y = new SafeTensor("y", SafeTensorDType.U8, [2, 1], new byte[] { 0, 1 });

        Rejected(Build(ByteImages([2, 784]), y), "bad_shape", "y has shape [2, 1]; expected [N]");
    }

    [Fact]
    public void Different_sample_and_label_counts_are_a_count_mismatch()
    {
        Rejected(Build(ByteImages([3, 784]), Labels(0, 1)), "count_mismatch", "x has 3 samples but y has 2 labels");
    }

    [Fact]
    public void Zero_samples_is_empty()
    {
        Rejected(Build(ByteImages([0, 784]), Labels()), "empty", "no samples");
    }

    [Fact]
    public void Negative_label_is_a_bad_label()
    {
        Rejected(Build(ByteImages([3, 784]), Labels(0, -1, 1)), "bad_label", "label -1 at index 1 is negative");
    }

    [Fact]
    public void Label_not_below_the_declared_classes_is_a_bad_label()
    {
        Rejected(
            Build(new Dictionary<string, string> { ["classes"] = "2" }, ByteImages([3, 784]), Labels(0, 1, 2)),
            "bad_label",
            "label 2 at index 2 is not below classes = 2");
    }

    [Fact]
    public void Non_integer_classes_are_bad_classes()
    {
        Rejected(WithMetadata("classes", "ten"), "bad_classes", "'classes' is 'ten'; expected an integer in [2, 10000]");
    }

    [Fact]
    public void One_class_is_bad_classes()
    {
        Rejected(WithMetadata("classes", "1"), "bad_classes", "'classes' is 1");
    }

    [Fact]
    public void More_than_10000_classes_are_bad_classes()
    {
        Rejected(WithMetadata("classes", "10001"), "bad_classes", "'classes' is 10001");
    }

    [Fact]
    public void Labels_implying_more_than_10000_classes_are_bad_classes()
    {
        Rejected(Build(ByteImages([2, 784]), Labels(0, 10_000)), "bad_classes", "the largest label 10000 implies 10001 classes");
    }

    [Fact]
    public void A_single_distinct_label_is_single_class()
    {
        Rejected(Build(ByteImages([3, 784]), Labels(5, 5, 5)), "single_class", "all 3 labels are 5");
    }

    [Fact]
    public void Nan_and_infinite_inputs_are_non_finite_with_count_and_first_index()
    {
        var x = Floats("x", [3, 784], i => i switch
        {
            784 + 17 => float.NaN,
            2 * 784 => float.PositiveInfinity,
            2 * 784 + 1 => float.NegativeInfinity,
            _ => 0.5f,
        });

        Rejected(Build(x, Labels(0, 1, 0)), "non_finite", "x has 3 non-finite values (NaN or ±Inf); the first is at index 801 (sample 1, feature 17)");
    }

    [Fact]
    public void Float_inputs_far_outside_0_to_1_are_out_of_range_as_for_inference()
    {
        var x = Floats("x", [3, 784], i => i == 784 + 5 ? 255f : 0.5f);

        Rejected(Build(x, Labels(0, 1, 0)), "out_of_range", "x has 255 at index 789 (sample 1, feature 5)");
    }

    [Fact]
    public void Float_inputs_slightly_outside_0_to_1_are_accepted()
    {
        var x = Floats("x", [3, 784], i => i % 2 == 0 ? -0.5f : 1.5f);

        Assert.Equal(3, Format.Decode(Build(x, Labels(0, 1, 0)), Limits).Count);
    }

    [Fact]
    public void Name_longer_than_200_characters_is_bad_metadata()
    {
        Rejected(WithMetadata("name", new string('n', 201)), "bad_metadata", "'name' is 201 characters; at most 200");
    }

    [Fact]
    public void Name_with_control_characters_is_bad_metadata()
    {
        Rejected(WithMetadata("name", "ok\nINFO forged"), "bad_metadata", "'name' contains control characters");
    }

    [Theory]
    [InlineData("0.6")]
    [InlineData("-0.1")]
    [InlineData("abc")]
    [InlineData("NaN")]
    [InlineData("0")]
    public void Test_fraction_outside_0_to_half_is_bad_metadata(string value)
    {
        Rejected(WithMetadata("test_fraction", value), "bad_metadata", $"'test_fraction' is '{value}'; expected a number in (0, 0.5]");
    }

    [Fact]
    public void Largest_long_label_without_classes_is_bad_classes_with_a_true_count()
    {
        // long.MaxValue + 1 overflowed into "not below classes = -9223372036854775808".
        Rejected(Build(ByteImages([3, 784]), Labels(0, 1, long.MaxValue)), "bad_classes",
            "the largest label 9223372036854775807 implies 9223372036854775808 classes; at most 10000 are allowed");
    }

    [Fact]
    public void Largest_label_at_the_class_limit_is_bad_classes()
    {
        Rejected(Build(ByteImages([3, 784]), Labels(0, 1, 10_000)), "bad_classes", "implies 10001 classes");
    }

    private static DecodedTask Split(int samples, string? testFraction)
    {
        var metadata = testFraction is null ? null : new Dictionary<string, string> { ["test_fraction"] = testFraction };
        var labels = Enumerable.Range(0, samples).Select(i => (long)(i % 2)).ToArray();
        return Format.Decode(SafeTensorsFile.Write([ByteImages([samples, Features]), Labels(labels)], metadata), Limits);
    }

    [Fact]
    public void Nine_samples_at_the_default_test_fraction_are_too_small_and_the_message_says_what_works()
    {
        var ex = Assert.Throws<TaskRejectedException>(() => TaskPayloadRules.CheckSplit(Split(9, null)));

        Assert.Equal("too_small", ex.Reason);
        Assert.Equal(
            "the task has 9 samples; test_fraction 0.1 holds out 0 for testing, and a task needs at least 1 test sample plus 2 to train and validate on: " +
            "send at least 10 samples, or set test_fraction to at least 0.112",
            ex.Message);
    }

    [Fact]
    public void Two_samples_are_too_small_at_any_test_fraction()
    {
        var ex = Assert.Throws<TaskRejectedException>(() => TaskPayloadRules.CheckSplit(Split(2, "0.5")));

        Assert.Equal("too_small", ex.Reason);
        Assert.EndsWith("send at least 3 samples", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(10, null)]
    [InlineData(3, "0.5")]
    [InlineData(100, "0.01")]
    [InlineData(9, "0.112")]
    public void Smallest_tasks_that_split_are_accepted(int samples, string? testFraction)
    {
        TaskPayloadRules.CheckSplit(Split(samples, testFraction));
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.3)]
    [InlineData(0.01)]
    [InlineData(0.5)]
    [InlineData(0.007)]
    public void Suggested_sample_count_is_the_smallest_that_splits(double testFraction)
    {
        var ex = Assert.Throws<TaskRejectedException>(() => TaskPayloadRules.CheckSplit(Split(2, testFraction.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        int suggested = int.Parse(System.Text.RegularExpressions.Regex.Match(ex.Message, "send at least (\\d+) samples").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        Assert.True(TaskPayloadRules.IsLargeEnough(suggested, testFraction));
        Assert.False(TaskPayloadRules.IsLargeEnough(suggested - 1, testFraction));
    }

    [Fact]
    public void Long_metadata_values_are_cut_short_in_messages()
    {
        var ex = Rejected(WithMetadata("classes", new string('9', 3000)), "bad_classes", "...' (3000 characters)");

        Assert.True(ex.Message.Length < 500, $"message is {ex.Message.Length} characters");
    }
}
