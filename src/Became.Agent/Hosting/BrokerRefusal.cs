namespace Became.Agent.Hosting;

/// <summary>Which settings to check when the broker refuses the agent.</summary>
public static class BrokerRefusal
{
    /// <summary>Exit code of <c>became run</c> when the broker refuses its settings (EX_CONFIG); the systemd unit does not restart on it.</summary>
    public const int ExitCode = ExitCodes.BrokerRefused;

    public static string Settings(string reason) => reason switch
    {
        "TlsAuthentication" => "Broker:CaFile (the CA that signed the broker's certificate), Broker:Host (it must match the certificate's name) and Broker:ClientCertificateFile/ClientKeyFile",
        "ClientIdentifierNotValid" or "Banned" => "Broker:ClientId and the broker's access rules",
        _ => "Broker:Username and Broker:Password (and the broker's password file and ACL)",
    };
}
