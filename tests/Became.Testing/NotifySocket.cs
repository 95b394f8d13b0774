using System.Net.Sockets;
using System.Text;

namespace Became.Testing;

/// <summary>A datagram socket in a temporary folder standing in for systemd's NOTIFY_SOCKET; deleted on dispose.</summary>
public sealed class NotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public NotifySocket()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("became-notify-").FullName;
        _socket.Bind(new UnixDomainSocketEndPoint(Path));
    }

    /// <summary>The temporary folder (free for other files of the test, e.g. an agent's data).</summary>
    public string Directory { get; }

    /// <summary>What to put in NOTIFY_SOCKET.</summary>
    public string Path => System.IO.Path.Combine(Directory, "notify");

    /// <summary>The next datagram, or null when none arrives within <paramref name="timeout"/>.</summary>
    public async Task<string?> ReceiveAsync(TimeSpan timeout)
    {
        var buffer = new byte[1024];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            int n = await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
