using System.Net.Sockets;
using System.Text;

namespace Became.Agent.Hosting;

/// <summary>Sends sd_notify(3) state datagrams (READY=1, WATCHDOG=1, STATUS=..., STOPPING=1) to systemd's socket.</summary>
public static class SystemdNotifySocket
{
    /// <summary>The socket systemd gave this process (NOTIFY_SOCKET), or null when not run by a Type=notify unit.</summary>
    public static string? FromEnvironment() => Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is { Length: > 0 } path ? path : null;

    /// <summary>Sends one datagram; returns null on success, else the error (sd_notify is best effort: callers log it).</summary>
    public static string? Send(string path, string state)
    {
        try
        {
            // Abstract socket: systemd writes '@', the kernel wants a leading NUL.
            string address = path[0] == '@' ? "\0" + path[1..] : path;
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(address));
            socket.Send(Encoding.UTF8.GetBytes(state));
            return null;
        }
        catch (SocketException e)
        {
            return e.Message;
        }
    }
}
