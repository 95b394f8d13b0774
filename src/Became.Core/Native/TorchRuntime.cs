using System.Runtime.InteropServices;
using TorchSharp;

namespace Became.Core.Native;

/// <summary>How the native torch backend was brought up in this process.</summary>
/// <param name="LibTorchSharpPath">The libLibTorchSharp file actually loaded, or null when TorchSharp found it itself.</param>
/// <param name="WeakenedVersions">libstdc++ versions made optional in a private patched copy (empty: original loaded).</param>
/// <param name="SystemLibStdCxx">The libstdc++ this process uses, when it could be found.</param>
public sealed record TorchNativeStatus(string? LibTorchSharpPath, IReadOnlyList<string> WeakenedVersions, string? SystemLibStdCxx)
{
    public bool Patched => WeakenedVersions.Count > 0;

    public override string ToString() => Patched
        ? $"LibTorchSharp: patched private copy {LibTorchSharpPath} (weakened {string.Join(", ", WeakenedVersions)}; system {SystemLibStdCxx})"
        : $"LibTorchSharp: {LibTorchSharpPath ?? "resolved by TorchSharp"} loaded as shipped";
}

/// <summary>
/// Brings up TorchSharp's native backend exactly once, before any tensor is made. Where the system
/// libstdc++ lacks a version that libLibTorchSharp only needs for a marker symbol (Debian 12, Ubuntu 22.04),
/// it loads a patched private copy instead of the shipped file and routes TorchSharp's P/Invokes to it,
/// so exactly one copy is ever mapped (two copies side by side crash the process). Nothing calls it implicitly:
/// every program that makes tensors calls <see cref="Initialize"/> once at start (<c>became run</c>, <c>became bench</c>,
/// the test assemblies' module initializers, the benchmarks). <see cref="CudaAvailability.Probe"/> and
/// <see cref="TorchBackendInfo.Current"/> call it themselves; the networks' constructors check it, so a missed call
/// is a clear <see cref="InvalidOperationException"/> there rather than the loader's GLIBCXX error (a bare
/// <c>torch.*</c> call before it still meets the loader's error).
/// </summary>
public static class TorchRuntime
{
    /// <summary>Environment variable naming the folder for the patched copy (default: the user's cache folder).</summary>
    public const string CacheDirectoryVariable = "BECAME_NATIVE_CACHE";

    private const string LibTorchSharpFile = "libLibTorchSharp.so";
    private static readonly Lock Gate = new();
    private static TorchNativeStatus? _status;

    /// <summary>Whether an exception from <see cref="Initialize"/> means the native libraries could not be loaded.</summary>
    public static bool IsLoadFailure(Exception e) =>
        e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or IOException or InvalidDataException or TypeInitializationException;

    /// <summary>A load failure in words, with what to check for this build's TorchBackend (cpu, cuda or l4t).</summary>
    public static string DescribeLoadFailure(Exception e, string backend)
    {
        string hint = backend == "l4t"
            ? "this build (TorchBackend=l4t) carries no libtorch: put the libLibTorchSharp.so built on the device next to `became`, and the PyTorch wheel's torch/lib on LD_LIBRARY_PATH (deploy/jetson/README.md)"
            : $"this build (TorchBackend={backend}) expects libtorch's files next to `became`, as `dotnet publish` puts them; publish again, and on aarch64 use the l4t build";
        // The loader's detail (e.g. the undefined symbol) is on later lines: keep it, on one line.
        string detail = string.Join(" ", e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return $"libtorch could not be loaded ({hint}): {detail}";
    }

    /// <summary>Prepares the native backend (idempotent) and returns what was done.</summary>
    public static TorchNativeStatus Initialize()
    {
        lock (Gate)
        {
            if (_status is null)
            {
                // Before libtorch allocates anything: its tensors live in the C heap.
                ProcessMemory.Configure();
            }

            _status ??= Prepare();
            return _status;
        }
    }

    /// <summary>Whether <see cref="Initialize"/> has completed in this process.</summary>
    public static bool IsInitialized => Volatile.Read(ref _status) is not null;

    /// <summary>Throws a clear <see cref="InvalidOperationException"/> when <see cref="Initialize"/> was not called:
    /// the first tensor would otherwise load the shipped libLibTorchSharp, which fails on Debian 12 with a GLIBCXX
    /// error, or is mapped beside the patched copy later (two copies crash the process).</summary>
    /// <param name="what">What needs the backend, for the message (e.g. a network's name).</param>
    public static void EnsureInitialized(string what)
    {
        if (!IsInitialized)
        {
            throw new InvalidOperationException($"{what} needs libtorch: call {nameof(TorchRuntime)}.{nameof(Initialize)}() once at start, before the first tensor.");
        }
    }

    private static TorchNativeStatus Prepare()
    {
        if (!OperatingSystem.IsLinux())
        {
            return new TorchNativeStatus(null, [], null);
        }

        string? original = FindShippedLibTorchSharp();
        if (original is null)
        {
            // A custom build (e.g. on a Jetson) is loaded by TorchSharp's own search.
            return new TorchNativeStatus(null, [], null);
        }

        string? libstdcxx = FindLoadedLibStdCxx();
        var available = libstdcxx is null ? new HashSet<string>() : ElfImage.Read(libstdcxx).VersionDefinitions.ToHashSet(StringComparer.Ordinal);
        var plan = LibStdCxxCompatibility.Plan(File.ReadAllBytes(original), available, original);
        if (!plan.Changed)
        {
            return new TorchNativeStatus(original, [], libstdcxx);
        }

        string copy = WriteCopy(plan.Bytes);
        string folder = Path.GetDirectoryName(original)!;

        // The copy lives elsewhere, so its $ORIGIN run path no longer finds libtorch: load those
        // first from the shipped folder, and the loader then matches the copy's needs by soname.
        foreach (string needed in ElfImage.Parse(plan.Bytes).Needed)
        {
            string candidate = Path.Combine(folder, needed);
            if (File.Exists(candidate))
            {
                NativeLibrary.Load(candidate);
            }
        }

        IntPtr handle = NativeLibrary.Load(copy);
        NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, (name, _, _) =>
            name is "LibTorchSharp" or LibTorchSharpFile ? handle : IntPtr.Zero);
        return new TorchNativeStatus(copy, plan.WeakenedVersions, libstdcxx);
    }

    private static string WriteCopy(byte[] bytes)
    {
        var candidates = new List<string>();
        string? configured = Environment.GetEnvironmentVariable(CacheDirectoryVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            candidates.Add(configured);
        }

        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!string.IsNullOrEmpty(xdg))
        {
            candidates.Add(Path.Combine(xdg, "became", "native"));
        }
        else if (!string.IsNullOrEmpty(home))
        {
            candidates.Add(Path.Combine(home, ".cache", "became", "native"));
        }

        candidates.Add(Path.Combine(Path.GetTempPath(), $"became-native-{Environment.UserName}"));
        var failures = new List<string>();
        foreach (string directory in candidates)
        {
            try
            {
                return LibStdCxxCompatibility.WritePrivateCopy(bytes, directory, LibTorchSharpFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                failures.Add($"{directory}: {e.Message}");
            }
        }

        throw new IOException($"Cannot write the patched {LibTorchSharpFile} anywhere (set {CacheDirectoryVariable}): {string.Join("; ", failures)}");
    }

    private static string? FindShippedLibTorchSharp()
    {
        var folders = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchPath)
        {
            folders.AddRange(searchPath.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        }

        string torchFolder = Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? AppContext.BaseDirectory;
        folders.Add(torchFolder);
        folders.Add(Path.Combine(torchFolder, "runtimes", RuntimeInformation.RuntimeIdentifier, "native"));
        folders.Add(Path.Combine(torchFolder, "runtimes", "linux-" + RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant(), "native"));
        return folders.Select(f => Path.Combine(f, LibTorchSharpFile)).FirstOrDefault(File.Exists);
    }

    private static string? FindLoadedLibStdCxx()
    {
        // The runtime host is C++, so libstdc++ is normally mapped already; make sure, then ask the kernel.
        NativeLibrary.TryLoad(LibStdCxxCompatibility.LibraryName, out _);
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                // The map names the real file (libstdc++.so.6.0.30), not the soname link.
                int slash = line.IndexOf('/', StringComparison.Ordinal);
                if (slash >= 0 && Path.GetFileName(line.AsSpan(slash)).StartsWith(LibStdCxxCompatibility.LibraryName, StringComparison.Ordinal))
                {
                    return line[slash..];
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    /// <summary>Mapped files whose name is libLibTorchSharp.so (a test hook: there must be exactly one).</summary>
    public static IReadOnlyList<string> MappedLibTorchSharpFiles() =>
        File.ReadLines("/proc/self/maps")
            .Select(l => l.IndexOf('/', StringComparison.Ordinal) is var i and >= 0 ? l[i..] : null)
            .Where(p => p is not null && p.EndsWith("/" + LibTorchSharpFile, StringComparison.Ordinal))
            .Select(p => p!)
            .Distinct()
            .ToList();
}
