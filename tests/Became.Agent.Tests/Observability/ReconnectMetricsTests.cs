using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Observability;

/// <summary>The MQTT series of GET /metrics across a real broker outage (mosquitto stopped and started again).</summary>
[Trait("Speed", "Slow")]
public sealed class ReconnectMetricsTests(ITestOutputHelper output)
{
    private const string Token = "reconnect-token-0123456789";

    [Fact]
    public async Task Metrics_show_the_broker_connection_going_down_and_the_reconnect()
    {
        using var loggers = new TestLoggerProvider(output).CreateFactory();
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, loggers);
        int port = TestBrokers.FreePort();
        await using var agent = await AgentHarness.StartAsync(broker.Port, extraArgs: [$"--HttpUrls=http://127.0.0.1:{port}", $"--HttpToken={Token}", "--Broker:ReconnectMaxSeconds=2"]);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        var before = PrometheusScrape.Parse(await http.GetStringAsync("/metrics"));
        await broker.StopAsync(CancellationToken.None);
        var down = await ScrapeUntilAsync(http, s => s.Value("became_mqtt_connected") == 0, "the agent reports the connection down");
        await broker.StartAsync(CancellationToken.None);
        var back = await ScrapeUntilAsync(http, s => s.Value("became_mqtt_connected") == 1, "the agent reports the connection up again");

        Assert.Equal(1, before.Value("became_mqtt_connected"));
        Assert.Equal(0, before.Value("became_mqtt_reconnects_total"));
        Assert.Equal(0, down.Value("became_mqtt_reconnects_total"));
        Assert.Equal(1, back.Value("became_mqtt_reconnects_total"));
    }

    private static Task<PrometheusScrape> ScrapeUntilAsync(HttpClient http, Func<PrometheusScrape, bool> condition, string what) =>
        Eventually.ValueAsync(async () => PrometheusScrape.Parse(await http.GetStringAsync("/metrics")), condition, what, TimeSpan.FromMinutes(2));
}
