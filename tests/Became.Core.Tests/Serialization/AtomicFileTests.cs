using Became.Core.IO;
using Became.Core.Serialization;
using Became.Core.Tests.Data;

namespace Became.Core.Tests.Serialization;

public sealed class AtomicFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Writes_the_bytes_to_a_new_file()
    {
        var path = _dir.File("model.safetensors");

        AtomicFile.Write(path, [1, 2, 3]);

        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
    }

    [Fact]
    public void Replaces_an_existing_file()
    {
        var path = _dir.File("model.safetensors");
        File.WriteAllBytes(path, [9, 9, 9, 9, 9]);

        AtomicFile.Write(path, [4, 5]);

        Assert.Equal(new byte[] { 4, 5 }, File.ReadAllBytes(path));
    }

    [Fact]
    public void Leaves_no_temporary_file_behind()
    {
        AtomicFile.Write(_dir.File("a.safetensors"), [1]);

        Assert.Equal(["a.safetensors"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Missing_folder_throws_and_creates_nothing()
    {
        var path = Path.Combine(_dir.Path, "absent", "a.safetensors");

        Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.Write(path, [1]));
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Path));
    }
}
