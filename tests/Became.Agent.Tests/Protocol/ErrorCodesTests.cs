using System.Reflection;
using Became.Protocol;

namespace Became.Agent.Tests.ProtocolChecks;

/// <summary>One list of codes: the task rejections (the former TaskRejection) and intake's own codes kept their wire
/// strings, each with its HTTP status, and no two constants share a string.</summary>
public sealed class ErrorCodesTests
{
    [Theory]
    [InlineData(ErrorCodes.TooLarge, "too_large", 413)]
    [InlineData(ErrorCodes.NotSafetensors, "not_safetensors", 400)]
    [InlineData(ErrorCodes.MissingTensor, "missing_tensor", 400)]
    [InlineData(ErrorCodes.BadDtype, "bad_dtype", 400)]
    [InlineData(ErrorCodes.BadShape, "bad_shape", 400)]
    [InlineData(ErrorCodes.CountMismatch, "count_mismatch", 400)]
    [InlineData(ErrorCodes.BadLabel, "bad_label", 400)]
    [InlineData(ErrorCodes.BadClasses, "bad_classes", 400)]
    [InlineData(ErrorCodes.NonFinite, "non_finite", 400)]
    [InlineData(ErrorCodes.OutOfRange, "out_of_range", 400)]
    [InlineData(ErrorCodes.Empty, "empty", 400)]
    [InlineData(ErrorCodes.SingleClass, "single_class", 400)]
    [InlineData(ErrorCodes.BadMetadata, "bad_metadata", 400)]
    [InlineData(ErrorCodes.TooSmall, "too_small", 400)]
    [InlineData(ErrorCodes.BadTaskId, "bad_task_id", 400)]
    [InlineData(ErrorCodes.DuplicateId, "duplicate_id", 400)]
    [InlineData(ErrorCodes.QueueFull, "queue_full", 400)]
    public void Every_former_task_rejection_code_keeps_its_wire_string_and_HTTP_status(string code, string wire, int status)
    {
        Assert.Equal(wire, code);
        Assert.Equal(status, ErrorCodes.HttpStatus(code));
    }

    [Fact]
    public void A_deferred_task_still_says_storage_error()
    {
        Assert.Equal("storage_error", ErrorCodes.StorageError);
    }

    [Fact]
    public void No_two_codes_share_a_wire_string()
    {
        var codes = typeof(ErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral).Select(f => (f.Name, Value: (string)f.GetRawConstantValue()!)).ToList();

        Assert.True(codes.Count > 30, $"{codes.Count} codes");
        var shared = codes.GroupBy(c => c.Value).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(c => c.Name))}").ToList();
        Assert.True(shared.Count == 0, string.Join("; ", shared));
    }
}
