using Became.Core.Data;

namespace Became.Core.Tests.Data;

public sealed class IdxReaderTests : IDisposable
{
    private static readonly byte[] Payload = [1, 2, 3, 4, 5, 6, 250, 251, 252, 253, 254, 255];

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Raw_file_gives_its_shape_and_bytes()
    {
        var path = _dir.File("raw-idx3-ubyte");
        File.WriteAllBytes(path, IdxTestFiles.Encode([2, 3, 2], Payload));

        var array = IdxReader.Read(path);

        Assert.Equal([2, 3, 2], array.Shape);
        Assert.Equal(Payload, array.Data);
        Assert.Equal(2, array.Count);
    }

    [Fact]
    public void Gzipped_file_is_recognised_by_content_not_name()
    {
        var path = _dir.File("no-gz-suffix");
        File.WriteAllBytes(path, IdxTestFiles.Gzip(IdxTestFiles.Encode([12], Payload)));

        var array = IdxReader.Read(path);

        Assert.Equal([12], array.Shape);
        Assert.Equal(Payload, array.Data);
    }

    [Fact]
    public void Truncated_file_reports_expected_and_found_lengths_and_path()
    {
        var path = _dir.File("truncated.gz");
        File.WriteAllBytes(path, IdxTestFiles.Gzip(IdxTestFiles.Encode([3, 5], Payload)));

        var error = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
        Assert.Contains("needs 15 payload bytes but 12 were found", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Trailing_bytes_after_the_payload_are_an_error()
    {
        var path = _dir.File("trailing");
        File.WriteAllBytes(path, IdxTestFiles.Encode([10], Payload));

        var error = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));

        Assert.Contains("needs 10 payload bytes but 12 were found", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nonzero_magic_prefix_is_rejected_as_not_idx()
    {
        var path = _dir.File("bad-magic");
        var bytes = IdxTestFiles.Encode([12], Payload);
        bytes[0] = 0x50;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));

        Assert.Contains("not an IDX file", error.Message, StringComparison.Ordinal);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unsupported_element_type_is_named_in_the_error()
    {
        var path = _dir.File("floats");
        File.WriteAllBytes(path, IdxTestFiles.Encode([3], Payload, type: 0x0D));

        var error = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));

        Assert.Contains("0x0d (float32)", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void Dimension_count_outside_one_to_four_is_rejected(int rank)
    {
        var path = _dir.File("rank");
        File.WriteAllBytes(path, IdxTestFiles.Encode(Enumerable.Repeat(1, rank).ToArray(), rank == 0 ? [] : [7]));

        var error = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));

        Assert.Contains($"{rank} dimensions", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Zero_dimension_is_rejected()
    {
        var path = _dir.File("zero-dim");
        File.WriteAllBytes(path, IdxTestFiles.Encode([0, 28], []));

        var error = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));

        Assert.Contains("dimension 0 is 0", error.Message, StringComparison.Ordinal);
    }
}
