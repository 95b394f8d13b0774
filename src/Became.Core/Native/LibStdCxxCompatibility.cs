using System.Security.Cryptography;

namespace Became.Core.Native;

/// <summary>What <see cref="LibStdCxxCompatibility"/> decided for one native library.</summary>
/// <param name="WeakenedVersions">Versions the system lacks that were marked optional (empty when none).</param>
/// <param name="Bytes">The library to load: the original bytes, or a patched copy.</param>
public sealed record LibStdCxxPatch(IReadOnlyList<string> WeakenedVersions, byte[] Bytes)
{
    public bool Changed => WeakenedVersions.Count > 0;
}

/// <summary>
/// Makes a prebuilt native library load against an older libstdc++ when the only newer version it asks
/// for is a marker with no code behind it. GCC 13 tags every object that includes &lt;iostream&gt; with a
/// reference to <c>std::ios_base_library_init()</c>@GLIBCXX_3.4.32, an empty function whose only job is
/// the version tag; libLibTorchSharp 0.107 carries it although nothing calls it. Marking that one
/// version-needed entry weak lets GCC 11/12's libstdc++ (Debian 12, JetPack 6) satisfy the library.
/// Any other missing version is refused: weakening a version that real code uses would turn a clean
/// load error into a crash later.
/// </summary>
public static class LibStdCxxCompatibility
{
    /// <summary>Symbols that exist only to carry a version tag, so a missing version behind them is harmless.</summary>
    public static readonly IReadOnlySet<string> MarkerSymbols = new HashSet<string>(StringComparer.Ordinal)
    {
        "_ZSt21ios_base_library_initv",
    };

    public const string LibraryName = "libstdc++.so.6";

    /// <summary>Weakens the version needs on libstdc++ that <paramref name="available"/> lacks, if all are markers.</summary>
    public static LibStdCxxPatch Plan(byte[] library, IReadOnlySet<string> available, string description)
    {
        var image = ElfImage.Parse(library, description);
        var missing = image.VersionNeeds
            .Where(n => n.File == LibraryName && !n.IsWeak && !available.Contains(n.Version))
            .ToList();
        if (missing.Count == 0)
        {
            return new LibStdCxxPatch([], library);
        }

        foreach (var need in missing)
        {
            var users = image.SymbolsWithVersion(need.Index);
            var real = users.Where(s => !MarkerSymbols.Contains(s)).ToList();
            if (real.Count > 0)
            {
                throw new PlatformNotSupportedException(
                    $"{description} needs {need.Version} from {LibraryName} for {string.Join(", ", real.Take(5))}; " +
                    $"this system's {LibraryName} lacks it. Install a newer libstdc++ (GCC 13 or later) or build LibTorchSharp on this machine.");
            }
        }

        var patched = (byte[])library.Clone();
        foreach (var need in missing)
        {
            ushort flags = (ushort)(need.Flags | ElfVersionNeed.WeakFlag);
            patched[need.FlagsOffset] = (byte)(flags & 0xff);
            patched[need.FlagsOffset + 1] = (byte)(flags >> 8);
        }

        return new LibStdCxxPatch(missing.Select(n => n.Version).ToList(), patched);
    }

    /// <summary>Writes <paramref name="bytes"/> under <paramref name="directory"/> in a folder named by their
    /// hash, atomically, and returns the path. An existing identical copy is reused.</summary>
    public static string WritePrivateCopy(byte[] bytes, string directory, string fileName)
    {
        byte[] digest = SHA256.HashData(bytes);
        string folder = Path.Combine(directory, Convert.ToHexStringLower(digest)[..16]);
        string path = Path.Combine(folder, fileName);
        if (File.Exists(path) && new FileInfo(path).Length == bytes.Length && SHA256.HashData(File.ReadAllBytes(path)).AsSpan().SequenceEqual(digest))
        {
            return path;
        }

        Directory.CreateDirectory(folder);
        IO.AtomicFile.Write(path, bytes);
        return path;
    }
}
