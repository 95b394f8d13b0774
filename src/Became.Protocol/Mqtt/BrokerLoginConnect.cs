using MQTTnet;

namespace Became.Protocol;

/// <summary>How the operator's tools connect: with the <see cref="BrokerLogin"/> given, and a broker's refusal as one
/// clear <see cref="IOException"/> (the tools print it in one line, exit 1) rather than MQTTnet's exception.</summary>
public static class BrokerLoginConnect
{
    /// <summary>Adds the login's credentials to the CONNECT (none for an anonymous connection).</summary>
    public static MqttClientOptionsBuilder WithLogin(this MqttClientOptionsBuilder builder, BrokerLogin? login)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return login is null ? builder : builder.WithCredentials(login.Username, login.Password);
    }

    /// <summary>Connects; throws an <see cref="IOException"/> naming the broker when it refuses the connection.</summary>
    public static async Task<MqttClientConnectResult> ConnectOrExplainAsync(this IMqttClient client, MqttClientOptions options, string host, int port, BrokerLogin? login, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        // MQTTnet 5 answers a refusal with the CONNACK's result, not an exception.
        var result = await client.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        return result.ResultCode == MqttClientConnectResultCode.Success ? result : throw Refusal(host, port, login, result.ResultCode, result.ReasonString);
    }

    private static IOException Refusal(string host, int port, BrokerLogin? login, MqttClientConnectResultCode code, string? reason)
    {
        string why = string.IsNullOrEmpty(reason) ? code.ToString() : $"{code}: {reason}";
        if (code is not (MqttClientConnectResultCode.NotAuthorized or MqttClientConnectResultCode.BadUserNameOrPassword))
        {
            return new IOException($"the broker {host}:{port} refused the connection ({why})");
        }

        return new IOException(login is null
            ? $"the broker {host}:{port} refused a connection without credentials ({why}); give --username USER and --password PASSWORD (or {BrokerLoginOptions.PasswordVariable})"
            : $"the broker {host}:{port} refused the credentials of user '{login.Username}' ({why})");
    }
}
