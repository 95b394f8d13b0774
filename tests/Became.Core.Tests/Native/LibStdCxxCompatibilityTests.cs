using Became.Core.Native;

namespace Became.Core.Tests.Native;

public sealed class LibStdCxxCompatibilityTests
{
    private const string Marker = "GLIBCXX_3.4.32";

    private static string ShippedLibrary()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(path))
        {
            path = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        }

        Assert.True(File.Exists(path), $"libLibTorchSharp.so not found under {AppContext.BaseDirectory}");
        return path;
    }

    private static HashSet<string> AllVersionsBut(ElfImage image, params string[] missing) =>
        image.VersionNeeds.Where(n => n.File == LibStdCxxCompatibility.LibraryName).Select(n => n.Version).Except(missing).ToHashSet();

    [Fact]
    public void Shipped_library_needs_the_marker_version_only_for_the_marker_symbol()
    {
        var image = ElfImage.Read(ShippedLibrary());
        var need = Assert.Single(image.VersionNeeds, n => n.Version == Marker);
        Assert.Equal(LibStdCxxCompatibility.LibraryName, need.File);
        Assert.Equal(["_ZSt21ios_base_library_initv"], image.SymbolsWithVersion(need.Index));
    }

    [Fact]
    public void Missing_marker_version_is_weakened_by_changing_only_its_flag_bytes()
    {
        byte[] original = File.ReadAllBytes(ShippedLibrary());
        var image = ElfImage.Parse(original);

        var plan = LibStdCxxCompatibility.Plan(original, AllVersionsBut(image, Marker), "shipped");

        Assert.Equal([Marker], plan.WeakenedVersions);
        var need = image.VersionNeeds.Single(n => n.Version == Marker);
        var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != plan.Bytes[i]).ToList();
        Assert.NotEmpty(changed);
        Assert.All(changed, i => Assert.InRange(i, need.FlagsOffset, need.FlagsOffset + 1));
        var patched = ElfImage.Parse(plan.Bytes);
        Assert.All(patched.VersionNeeds, n => Assert.Equal(n.Version == Marker, n.IsWeak));
    }

    [Fact]
    public void Library_is_left_alone_when_the_system_has_every_version()
    {
        byte[] original = File.ReadAllBytes(ShippedLibrary());

        var plan = LibStdCxxCompatibility.Plan(original, AllVersionsBut(ElfImage.Parse(original)), "shipped");

        Assert.False(plan.Changed);
        Assert.Same(original, plan.Bytes);
    }

    [Fact]
    public void Missing_version_used_by_real_code_is_refused_with_the_symbol_named()
    {
        byte[] original = File.ReadAllBytes(ShippedLibrary());

        var error = Assert.Throws<PlatformNotSupportedException>(() =>
            LibStdCxxCompatibility.Plan(original, AllVersionsBut(ElfImage.Parse(original), "GLIBCXX_3.4.30"), "shipped"));

        Assert.Contains("GLIBCXX_3.4.30", error.Message);
        Assert.Contains("_ZNSt", error.Message);
    }

    [Fact]
    public void Runtime_patches_exactly_when_the_system_libstdcxx_lacks_the_marker_version()
    {
        var status = TorchRuntime.Initialize();

        Assert.NotNull(status.SystemLibStdCxx);
        bool systemHasMarker = ElfImage.Read(status.SystemLibStdCxx!).VersionDefinitions.Contains(Marker);
        Assert.Equal(!systemHasMarker, status.Patched);
        Assert.Equal(status.LibTorchSharpPath, Assert.Single(TorchRuntime.MappedLibTorchSharpFiles()));
    }

    [Fact]
    public void Private_copy_is_written_once_and_reused()
    {
        string folder = Path.Combine(Path.GetTempPath(), "became-native-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            byte[] bytes = [1, 2, 3, 4];
            string first = LibStdCxxCompatibility.WritePrivateCopy(bytes, folder, "lib.so");
            var written = File.GetLastWriteTimeUtc(first);
            string second = LibStdCxxCompatibility.WritePrivateCopy(bytes, folder, "lib.so");

            Assert.Equal(first, second);
            Assert.Equal(bytes, File.ReadAllBytes(first));
            Assert.Equal(written, File.GetLastWriteTimeUtc(second));
            Assert.Single(Directory.GetFiles(Path.GetDirectoryName(first)!));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
