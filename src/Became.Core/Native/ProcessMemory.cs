using System.Globalization;
using System.Runtime.InteropServices;

namespace Became.Core.Native;

/// <summary>What the process holds now: resident set (and its peak), the managed heap, and the C heap that libtorch
/// allocates tensors from (glibc malloc; null where the C library is not glibc).</summary>
public sealed record MemorySnapshot(
    long ResidentBytes,
    long PeakResidentBytes,
    long ManagedHeapBytes,
    long ManagedCommittedBytes,
    long? MallocInUseBytes,
    long? MallocFreeBytes,
    long? MallocMappedBytes)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"RSS {MiB(ResidentBytes)} MiB (peak {MiB(PeakResidentBytes)}), managed heap {MiB(ManagedHeapBytes)} MiB (committed {MiB(ManagedCommittedBytes)}), " +
        $"malloc in use {MiB(MallocInUseBytes)} MiB, free held {MiB(MallocFreeBytes)} MiB, mmapped {MiB(MallocMappedBytes)} MiB");

    private static string MiB(long? bytes) => bytes is long b ? (b / 1048576.0).ToString("F0", CultureInfo.InvariantCulture) : "?";
}

/// <summary>
/// Keeps the C heap of a long-running process small. libtorch frees a tensor with free(); glibc keeps what was freed
/// (in one arena per thread that ever allocated, and, once a large block has been freed, below a raised mmap threshold)
/// for reuse rather than giving it back, so an agent idling after a job would keep its peak. <see cref="Trim"/>
/// returns the free pages to the system after a job. Where the C library is not glibc (musl) every call does nothing.
/// </summary>
public static class ProcessMemory
{
    /// <summary>The glibc malloc arenas a Became process uses (<see cref="Configure"/>).</summary>
    public const int Arenas = 2;

    /// <summary>The smallest C heap block a long-running Became process maps on its own (<see cref="ReturnLargeBlocks"/>).</summary>
    public const int LargeBlockBytes = 1 << 20;

    // mallopt parameters (malloc.h).
    private const int MallocMmapThreshold = -3;
    private const int MallocArenaMax = -8;

    private static bool _noMalloc;
    private static bool _noMallinfo2;

    /// <summary>Sets up the C heap for a process that trains repeatedly and idles in between (every Became program calls it
    /// through <see cref="TorchRuntime.Initialize"/>): at most <see cref="Arenas"/> malloc arenas. The job threads come and
    /// go (one per job), and with glibc's default of 8 arenas per core each new one took a fresh arena whose freed
    /// memory stayed with it: the idle agent grew by about 45 MiB per job even with <see cref="Trim"/>.</summary>
    public static void Configure() => LimitArenas(Arenas);

    /// <summary>Serves blocks of <see cref="LargeBlockBytes"/> or more with their own mappings, returned to the system as
    /// soon as they are freed (glibc's M_MMAP_THRESHOLD). By default glibc raises that threshold to each large block
    /// freed (up to 32 MiB), after which a job's activations and data copies come from the heap and stay there,
    /// fragmented; fixed at 1 MiB the agent's heap held 11-15 MiB free after a job instead of 40-70 MiB. Training steps'
    /// tensors (batch 10) stay far below it. For the agent, which idles between jobs; the bench keeps glibc's default.</summary>
    public static bool ReturnLargeBlocks() => Call(() => mallopt(MallocMmapThreshold, LargeBlockBytes) == 1);

    /// <summary>Caps the number of glibc malloc arenas (default 8 per core): each thread that allocates gets one, and
    /// each keeps its own free memory. Takes effect for threads that have not allocated yet; call it at start-up.</summary>
    public static bool LimitArenas(int arenas) => Call(() => mallopt(MallocArenaMax, arenas) == 1);

    /// <summary>Gives the C heap's free pages back to the system (glibc malloc_trim); true when some were released.</summary>
    public static bool Trim() => Call(() => malloc_trim(0) == 1);

    /// <summary>The process's memory now, from /proc/self/status, the GC and glibc's mallinfo2.</summary>
    public static MemorySnapshot Snapshot()
    {
        long resident = 0, peak = 0;
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    resident = KiloBytes(line);
                }
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    peak = KiloBytes(line);
                }
            }
        }
        catch (IOException)
        {
            // Not Linux, or no procfs: the GC and malloc figures still tell something.
        }

        var gc = GC.GetGCMemoryInfo();
        MallInfo2? info = null;
        if (!_noMallinfo2 && OperatingSystem.IsLinux())
        {
            try
            {
                info = mallinfo2();
            }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
            {
                // Not glibc, or glibc before 2.33: no C heap figures.
                _noMallinfo2 = true;
            }
        }

        return new MemorySnapshot(resident, peak, gc.HeapSizeBytes, gc.TotalCommittedBytes,
            info is { } i ? (long)i.Uordblks + (long)i.Hblkhd : null,
            info is { } f ? (long)f.Fordblks : null,
            info is { } m ? (long)m.Hblkhd : null);
    }

    private static long KiloBytes(string line) =>
        long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture) * 1024;

    private static bool Call(Func<bool> call)
    {
        if (_noMalloc || !OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            return call();
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // Not glibc (musl has neither call): nothing to tune there.
            _noMalloc = true;
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int malloc_trim(nuint pad);

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallInfo2 mallinfo2();

    // struct mallinfo2 (glibc 2.33+): every field a size_t.
    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena;
        public nuint Ordblks;
        public nuint Smblks;
        public nuint Hblks;
        public nuint Hblkhd;
        public nuint Usmblks;
        public nuint Fsmblks;
        public nuint Uordblks;
        public nuint Fordblks;
        public nuint Keepcost;
    }
}
