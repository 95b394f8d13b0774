using System.Security.Cryptography.X509Certificates;

namespace Became.Protocol;

/// <summary>Loads the broker TLS PEM files: a CA bundle and a client certificate with its key.</summary>
public static class BrokerCertificates
{
    /// <summary>Every certificate in a PEM file (a CA bundle may hold several); throws when there is none.</summary>
    public static X509Certificate2Collection LoadCa(string path)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        return collection.Count > 0 ? collection : throw new InvalidDataException("holds no PEM certificate.");
    }

    /// <summary>The client certificate with its private key.</summary>
    public static X509Certificate2 LoadClient(string certificatePath, string keyPath) =>
        X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
}
