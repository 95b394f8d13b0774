using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Became.Testing;

/// <summary>A real, small tmpfs (needs root: mount); a file of ballast fills it so the next writes hit ENOSPC.</summary>
internal sealed class SmallTmpfs : IDisposable
{
    private SmallTmpfs(string mountPoint)
    {
        MountPoint = mountPoint;
    }

    public string MountPoint { get; }

    private string Ballast => Path.Combine(MountPoint, "ballast");

    public static bool CanMount => geteuid() == 0 && File.Exists("/usr/bin/mount");

    public static SmallTmpfs Mount(int megabytes)
    {
        string mountPoint = Directory.CreateTempSubdirectory("became-tmpfs-").FullName;
        Run("mount", "-t", "tmpfs", "-o", $"size={megabytes}m", "tmpfs", mountPoint);
        return new SmallTmpfs(mountPoint);
    }

    public long FreeBytes => new DriveInfo(MountPoint).AvailableFreeSpace;

    /// <summary>Fills the file system until only <paramref name="leftBytes"/> remain free (0: until a write fails).</summary>
    public void FillLeaving(long leftBytes)
    {
        // Unbuffered, so a write that does not fit fails here and not again when the stream is closed.
        using var stream = new FileStream(Ballast, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        foreach (int size in new[] { 64 * 1024, 4096 })
        {
            var chunk = new byte[size];
            Array.Fill(chunk, (byte)1);
            while (FreeBytes - size >= leftBytes)
            {
                try
                {
                    stream.Write(chunk);
                }
                catch (IOException) when (leftBytes == 0)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Space comes back: the ballast is deleted.</summary>
    public void Free() => File.Delete(Ballast);

    public void Dispose()
    {
        Run("umount", MountPoint);
        Directory.Delete(MountPoint);
    }

    private static void Run(string command, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(command, args) { RedirectStandardError = true, UseShellExecute = false })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command} {string.Join(' ', args)} failed ({process.ExitCode}): {error}");
        }
    }

    [DllImport("libc")]
    private static extern uint geteuid();
}

/// <summary>A fact that needs root to mount a tmpfs; skipped, saying why, elsewhere.</summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    public TmpfsFactAttribute()
    {
        if (!SmallTmpfs.CanMount)
        {
            Skip = "needs root to mount a small tmpfs (the injected disk-full tests cover the same path without it)";
        }
    }
}
