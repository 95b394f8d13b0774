using System.Diagnostics.Metrics;
using Became.Agent.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Became.Agent.Observability;

/// <summary>
/// Registers the agent's metrics and the OpenTelemetry meter provider that reads them: the agent's meter, the .NET
/// runtime's (GC, heap, thread pool, CPU, working set) and a Prometheus exporter whose scrape endpoint HttpApi maps.
/// </summary>
public static class AgentTelemetry
{
    public static void Add(IServiceCollection services)
    {
        services.AddSingleton<AgentMetrics>();
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("became")
                .AddDetector(sp => new DeviceResource(sp.GetRequiredService<IOptions<AgentOptions>>().Value.DeviceId)))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(AgentMetrics.MeterName)
                    .AddRuntimeInstrumentation()

                    // Plain Prometheus series: no otel_scope_* labels on every line (target_info names the device).
                    .AddPrometheusExporter(prometheus => prometheus.ScopeInfoEnabled = false);

                // Meters are matched by name across the whole process: where several agents share one (tests), each
                // provider keeps only its own agent's instruments.
                ((IDeferredMeterProviderBuilder)metrics).Configure((sp, builder) =>
                {
                    var own = sp.GetRequiredService<IMeterFactory>();
                    builder.AddView(instrument => instrument.Meter.Name == AgentMetrics.MeterName && !ReferenceEquals(instrument.Meter.Scope, own) ? MetricStreamConfiguration.Drop : null);
                });
            });
    }

    // target_info{service_name="became",service_instance_id=<DeviceId>}: which device a scrape came from.
    private sealed class DeviceResource(string deviceId) : IResourceDetector
    {
        public Resource Detect() => new([new KeyValuePair<string, object>("service.instance.id", deviceId)]);
    }
}
