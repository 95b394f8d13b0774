using Became.Agent.Hosting;
using Became.Agent.Serving;
using Became.Agent.Tests.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Security;

/// <summary>HTTP is loopback-only by documentation; binding wider without a token is called out at start-up.</summary>
[Trait("Speed", "Slow")]
public sealed class HttpExposureTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Http_bound_beyond_loopback_without_a_token_logs_a_warning()
    {
        var logs = new TestLoggerProvider(output);
        using var loggers = logs.CreateFactory();
        string data = Directory.CreateTempSubdirectory("became-http-").FullName;
        try
        {
            using var host = AgentHost.Build(
                [$"--DeviceId=http{Guid.NewGuid():N}"[..20], $"--DataDirectory={data}", "--Broker:EmbeddedPort=0", $"--HttpUrls=http://0.0.0.0:{TestBrokers.FreePort()}"],
                services => services.AddSingleton(loggers));
            await host.StartAsync();
            await host.StopAsync();

            Assert.Contains(logs.Entries, e => e.Category == nameof(HttpApi) && e.Message.Contains("without HttpToken", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
