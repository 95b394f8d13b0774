using System.Security.Cryptography;
using Became.Agent.Mqtt;
using Became.Protocol;

namespace Became.Agent.Configuration;

/// <summary>Checks the broker's TLS settings at start-up: the files exist and load, and they are used only with TLS.</summary>
internal static class BrokerTlsValidator
{
    public static IEnumerable<string> Validate(BrokerOptions broker)
    {
        bool anyFile = broker.CaFile is not null || broker.ClientCertificateFile is not null || broker.ClientKeyFile is not null;
        if (anyFile && !broker.UseTls)
        {
            yield return "Broker:CaFile, Broker:ClientCertificateFile and Broker:ClientKeyFile need Broker:UseTls=true.";
        }

        if (broker.UseTls && broker.IsEmbedded)
        {
            yield return "Broker:UseTls needs Broker:Host: the embedded broker listens on 127.0.0.1 without TLS.";
        }

        if ((broker.ClientCertificateFile is null) != (broker.ClientKeyFile is null))
        {
            yield return "Broker:ClientCertificateFile and Broker:ClientKeyFile go together: set both or neither.";
        }

        if (broker.CaFile is { } ca && LoadError(() => BrokerCertificates.LoadCa(ca)) is { } caError)
        {
            yield return $"Broker:CaFile '{ca}' {caError}";
        }

        if (broker is { ClientCertificateFile: { } cert, ClientKeyFile: { } key }
            && LoadError(() => BrokerCertificates.LoadClient(cert, key).Dispose()) is { } certError)
        {
            yield return $"Broker:ClientCertificateFile '{cert}' with Broker:ClientKeyFile '{key}' {certError}";
        }
    }

    private static string? LoadError(Action load)
    {
        try
        {
            load();
            return null;
        }
        catch (FileNotFoundException)
        {
            return "does not exist.";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException or InvalidDataException)
        {
            return $"cannot be read as PEM: {e.Message}";
        }
    }
}
