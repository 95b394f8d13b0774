using System.Text;
using Became.Agent.Hosting;
using Became.Agent.Mqtt;
using Became.Agent.Tests.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Security;

/// <summary>The agent against mosquitto with TLS (certificates made by the test) and a password file.</summary>
[Trait("Speed", "Slow")]
public sealed class BrokerSecurityTests : IAsyncLifetime
{
    private readonly TestLoggerProvider _logs;
    private readonly ILoggerFactory _loggers;
    private readonly string _dataDirectory = Directory.CreateTempSubdirectory("became-security-").FullName;
    private readonly string _deviceId = "sec" + Guid.NewGuid().ToString("N")[..8];
    private TestCertificates? _pki;
    private ITestBroker? _broker;

    public BrokerSecurityTests(ITestOutputHelper output)
    {
        _logs = new TestLoggerProvider(output);
        _loggers = _logs.CreateFactory();
    }

    private TestCertificates Pki => _pki!;

    private int Port => _broker!.Port;

    public async Task InitializeAsync() => _pki = await TestCertificates.CreateAsync();

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        _pki?.Dispose();
        _loggers.Dispose();
        Directory.Delete(_dataDirectory, recursive: true);
    }

    [Fact]
    public async Task Agent_connects_over_TLS_to_a_broker_signed_by_its_CA_file_with_a_password()
    {
        await StartBrokerAsync(requireClientCertificate: false);

        using var agent = await StartAgentAsync($"--Broker:CaFile={Pki.CaFile}", $"--Broker:Username={TestCertificates.User}", $"--Broker:Password={TestCertificates.Password}");

        Assert.Contains("\"state\":\"idle\"", await ReadStatusAsync(clientCertificate: false), StringComparison.Ordinal);
        await agent.StopAsync();
    }

    [Fact]
    public async Task Agent_presents_its_client_certificate_to_a_broker_that_requires_one()
    {
        await StartBrokerAsync(requireClientCertificate: true);

        using var agent = await StartAgentAsync($"--Broker:CaFile={Pki.CaFile}", $"--Broker:ClientCertificateFile={Pki.ClientCertificate}",
            $"--Broker:ClientKeyFile={Pki.ClientKey}", $"--Broker:Username={TestCertificates.User}", $"--Broker:Password={TestCertificates.Password}");

        Assert.Contains("\"state\":\"idle\"", await ReadStatusAsync(clientCertificate: true), StringComparison.Ordinal);
        await agent.StopAsync();
    }

    [Fact]
    public async Task Wrong_password_stops_start_up_with_an_error_naming_the_credential_settings()
    {
        await StartBrokerAsync(requireClientCertificate: false);

        var error = await Assert.ThrowsAsync<MqttConnectionRefusedException>(() =>
            StartAgentAsync($"--Broker:CaFile={Pki.CaFile}", $"--Broker:Username={TestCertificates.User}", "--Broker:Password=wrong-password"));

        Assert.Contains(error.Reason, new[] { "BadUserNameOrPassword", "NotAuthorized" });
        Assert.Contains("Broker:Password", BrokerRefusal.Settings(error.Reason), StringComparison.Ordinal);
        Assert.Contains(_logs.Entries, e => e.Category == nameof(MessagingService) && e.Message.Contains("Broker:Username and Broker:Password", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Broker_certificate_from_another_CA_stops_start_up_with_a_TLS_error()
    {
        await StartBrokerAsync(requireClientCertificate: false);

        var error = await Assert.ThrowsAsync<MqttConnectionRefusedException>(() =>
            StartAgentAsync($"--Broker:CaFile={Pki.OtherCaFile}", $"--Broker:Username={TestCertificates.User}", $"--Broker:Password={TestCertificates.Password}"));

        Assert.Equal("TlsAuthentication", error.Reason);
        Assert.Contains("Broker:CaFile", BrokerRefusal.Settings(error.Reason), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_client_certificate_is_retried_with_backoff_rather_than_failing_start_up()
    {
        await StartBrokerAsync(requireClientCertificate: true);

        // Under TLS 1.3 the broker rejects the missing certificate after the handshake, so the client sees only a
        // dropped connection, which could be transient: the agent starts, logs each failed attempt, and backs off.
        using var agent = await StartAgentAsync($"--Broker:CaFile={Pki.CaFile}", $"--Broker:Username={TestCertificates.User}", $"--Broker:Password={TestCertificates.Password}");
        await Eventually.TrueAsync(() => _logs.Count(4012) >= 2, "two failed attempts were logged", TimeSpan.FromSeconds(20));

        Assert.False(agent.Services.GetRequiredService<MqttConnection>().IsConnected);
        await agent.StopAsync();
    }

    [Fact]
    public async Task Run_exits_with_the_configuration_error_code_when_the_broker_refuses_the_credentials()
    {
        await StartBrokerAsync(requireClientCertificate: false);

        int exitCode = await AgentHost.RunAsync([.. AgentArgs($"--Broker:CaFile={Pki.CaFile}", $"--Broker:Username={TestCertificates.User}", "--Broker:Password=wrong-password")])
            .WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(BrokerRefusal.ExitCode, exitCode);
    }

    private async Task StartBrokerAsync(bool requireClientCertificate) =>
        _broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, _loggers, Pki.BrokerConfig(requireClientCertificate));

    private List<string> AgentArgs(params string[] extra) =>
    [
        $"--DeviceId={_deviceId}",
        $"--DataDirectory={_dataDirectory}",
        "--Training:Threads=1",
        "--ShutdownSeconds=10",
        "--Broker:Host=127.0.0.1",
        $"--Broker:Port={Port}",
        "--Broker:UseTls=true",
        .. extra,
    ];

    /// <summary>Starts the real agent host; disposes it when start-up fails.</summary>
    private async Task<IHost> StartAgentAsync(params string[] extra)
    {
        var host = AgentHost.Build([.. AgentArgs(extra)], services => services.AddSingleton(_loggers));
        try
        {
            await host.StartAsync();
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>The agent's retained status, read by a second client with the same TLS settings.</summary>
    private async Task<string> ReadStatusAsync(bool clientCertificate)
    {
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var reader = new MqttConnection(new MqttConnectionOptions
        {
            Host = "127.0.0.1",
            Port = Port,
            UseTls = true,
            CaFile = Pki.CaFile,
            ClientCertificateFile = clientCertificate ? Pki.ClientCertificate : null,
            ClientKeyFile = clientCertificate ? Pki.ClientKey : null,
            Username = TestCertificates.User,
            Password = TestCertificates.Password,
            ClientId = "reader-" + Guid.NewGuid().ToString("N"),
            SessionExpiry = TimeSpan.Zero,
            Subscriptions = [$"became/{_deviceId}/status"],
        }, _loggers.CreateLogger<MqttConnection>())
        {
            MessageHandler = async (message, ct) =>
            {
                await message.AcknowledgeAsync(ct);
                received.TrySetResult(Encoding.UTF8.GetString(message.Payload.Span));
            },
        };
        await reader.StartAsync(CancellationToken.None);
        return await received.Task.WaitAsync(TimeSpan.FromSeconds(20));
    }
}
