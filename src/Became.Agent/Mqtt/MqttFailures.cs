using System.Security.Authentication;
using MQTTnet;

namespace Became.Agent.Mqtt;

/// <summary>How a failed connection attempt or publication is classified and told in the log.</summary>
internal static class MqttFailures
{
    /// <summary>Refusals that the same CONNECT would get again: wrong credentials or permissions, a banned or invalid client id.</summary>
    public static bool IsPermanent(MqttClientConnectResultCode code) => code is MqttClientConnectResultCode.BadUserNameOrPassword
        or MqttClientConnectResultCode.NotAuthorized or MqttClientConnectResultCode.Banned
        or MqttClientConnectResultCode.BadAuthenticationMethod or MqttClientConnectResultCode.ClientIdentifierNotValid
        or MqttClientConnectResultCode.UnsupportedProtocolVersion;

    /// <summary>The TLS handshake's failure (untrusted or mismatched certificate), if that is what ended the attempt.</summary>
    public static AuthenticationException? FindTlsFailure(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationException tls)
            {
                return tls;
            }
        }

        return null;
    }

    /// <summary>The exception's message with its inner one's, on one line.</summary>
    public static string Describe(Exception exception) =>
        exception.InnerException is { } inner ? $"{exception.Message} ({inner.Message})" : exception.Message;
}
