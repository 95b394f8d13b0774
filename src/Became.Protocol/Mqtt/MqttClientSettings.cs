using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace Became.Protocol;

/// <summary>The MQTTnet client options of every connection attempt to one <see cref="MqttEndpoint"/>: MQTT 5, TLS with
/// the certificates loaded once, credentials, session and will.</summary>
public sealed class MqttClientSettings : IDisposable
{
    private readonly MqttEndpoint _options;

    // Loaded once: a renewed certificate is picked up by restarting the agent.
    private readonly X509Certificate2Collection? _trustChain;
    private readonly X509Certificate2? _clientCertificate;

    public MqttClientSettings(MqttEndpoint options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        if (options.CaFile is not null)
        {
            _trustChain = BrokerCertificates.LoadCa(options.CaFile);
        }

        if (options is { ClientCertificateFile: { } certificate, ClientKeyFile: { } key })
        {
            _clientCertificate = BrokerCertificates.LoadClient(certificate, key);
        }
    }

    /// <summary>The options for one CONNECT.</summary>
    public MqttClientOptions Build()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Host, _options.Port)
            .WithClientId(_options.ClientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(!_options.PersistentSession)
            .WithSessionExpiryInterval((uint)_options.SessionExpiry.TotalSeconds)
            .WithKeepAlivePeriod(_options.KeepAlive);

        if (_options.OperationTimeout is TimeSpan timeout)
        {
            builder.WithTimeout(timeout);
        }

        if (_options.MaximumPacketSize is uint maximum)
        {
            builder.WithMaximumPacketSize(maximum);
        }

        if (_options.UseTls)
        {
            builder.WithTlsOptions(tls =>
            {
                tls.UseTls().WithSslProtocols(SslProtocols.Tls12 | SslProtocols.Tls13);
                if (_trustChain is not null)
                {
                    // A private CA publishes no revocation lists, so an online check could only fail or stall.
                    tls.WithTrustChain(_trustChain).WithRevocationMode(X509RevocationMode.NoCheck);
                }

                if (_clientCertificate is not null)
                {
                    tls.WithClientCertificates([_clientCertificate]);
                }
            });
        }

        builder.WithLogin(_options.Login);

        if (_options.WillTopic is not null)
        {
            builder
                .WithWillTopic(_options.WillTopic)
                .WithWillPayload(Encoding.UTF8.GetBytes(_options.WillPayload ?? string.Empty))
                .WithWillRetain(_options.WillRetain)
                .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        }

        return builder.Build().WithPayloadSizedBuffers();
    }

    public void Dispose()
    {
        _clientCertificate?.Dispose();
        foreach (var certificate in _trustChain ?? [])
        {
            certificate.Dispose();
        }
    }
}
