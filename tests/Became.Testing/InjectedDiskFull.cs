using Became.Agent.Storage;

namespace Became.Testing;

/// <summary>A full disk, injected at the blob writes: once filled, writes fail with the IOException a real ENOSPC
/// gives (after an allowance of writes that still fit), until space is freed.</summary>
internal sealed class InjectedDiskFull : IStorageFaults
{
    private readonly Lock _gate = new();
    private int? _writesLeft;

    /// <summary>Writes refused so far.</summary>
    public int Refused { get; private set; }

    /// <summary>The disk fills up after <paramref name="writesThatFit"/> more blob writes.</summary>
    public void FillAfter(int writesThatFit)
    {
        lock (_gate)
        {
            _writesLeft = writesThatFit;
        }
    }

    public void Free()
    {
        lock (_gate)
        {
            _writesLeft = null;
        }
    }

    public void BeforeWrite(string path, long bytes)
    {
        lock (_gate)
        {
            if (_writesLeft is null)
            {
                return;
            }

            if (_writesLeft > 0)
            {
                _writesLeft--;
                return;
            }

            Refused++;
        }

        // The message and HResult of .NET's IOException for ENOSPC (errno 28) on Linux.
        throw new IOException($"No space left on device : '{path}' ({bytes} bytes, injected)", 28);
    }

    public void BeforeCommit(string taskId)
    {
    }
}
