using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Became.Agent.Serving;

/// <summary>Bearer-token check and the loopback test behind the "exposed without a token" warning.</summary>
public static class HttpToken
{
    /// <summary>True when the Authorization header is exactly <c>Bearer {token}</c>; compared in constant time so the
    /// answer's timing does not reveal how much of a guess was right.</summary>
    public static bool Matches(string authorization, string token)
    {
        byte[] expected = Encoding.UTF8.GetBytes("Bearer " + token);
        byte[] given = Encoding.UTF8.GetBytes(authorization);
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }

    /// <summary>True for a URL bound to 127.0.0.0/8, ::1 or localhost; false for wildcards (*, +, 0.0.0.0) and other addresses.</summary>
    public static bool IsLoopback(string url)
    {
        // Kestrel accepts wildcard hosts that Uri cannot parse; those bind every interface.
        string withoutWildcards = url.Replace("://*", "://wildcard.invalid", StringComparison.Ordinal).Replace("://+", "://wildcard.invalid", StringComparison.Ordinal);
        if (!Uri.TryCreate(withoutWildcards, UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
    }
}
