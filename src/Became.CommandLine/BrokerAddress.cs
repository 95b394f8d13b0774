using System.Globalization;

namespace Became.CommandLine;

/// <summary>The HOST:PORT form of <c>--broker</c>, shared by every command that takes it.</summary>
public static class BrokerAddress
{
    public const int DefaultPort = 1883;

    /// <summary>Host and the port text, if any (the port stays text so configuration validation can name it).</summary>
    public static (string Host, string? Port) Split(string address)
    {
        int colon = address.LastIndexOf(':');
        return colon > 0 ? (address[..colon], address[(colon + 1)..]) : (address, null);
    }

    /// <summary>Host and port (1883 when none is given); throws <see cref="FormatException"/> on a bad port.</summary>
    public static (string Host, int Port) Parse(string address)
    {
        var (host, port) = Split(address);
        return (host, port is null ? DefaultPort : int.Parse(port, NumberStyles.Integer, CultureInfo.InvariantCulture));
    }
}
