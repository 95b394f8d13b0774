using System.Diagnostics.Metrics;
using Became.Agent.Messaging;
using Became.Agent.Observability;
using Became.Agent.Protocol;
using Became.Protocol;

namespace Became.Agent.Tests.Observability;

/// <summary>The agent's counters, fed by its event feed as in the agent: an adoption is not a task learned here.</summary>
public sealed class AdoptionMetricsTests : IDisposable
{
    private readonly UnitRig _rig = new();

    public void Dispose() => _rig.Dispose();

    [Fact]
    public void An_adopted_version_counts_as_adopted_not_as_a_learned_task()
    {
        _ = _rig.Get<AgentMetrics>();
        var counted = new Dictionary<string, long>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name is "became.tasks.learned" or "became.versions.adopted")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (counted)
            {
                counted[instrument.Name] = counted.GetValueOrDefault(instrument.Name) + value;
            }
        });
        listener.Start();
        var feed = _rig.Get<EventFeed>();

        feed.Add(EventTypes.ModelDeployed, null, _rig.Time.GetUtcNow(), "{}", new ModelDeployed(3, new Dictionary<string, double>(), AdoptedFrom: new AdoptedFrom("peer", 2)));
        feed.Add(EventTypes.ModelDeployed, "t", _rig.Time.GetUtcNow(), "{}", new ModelDeployed(4, new Dictionary<string, double>(), TrainingSeconds: 1));

        Assert.Equal(1, counted.GetValueOrDefault("became.versions.adopted"));
        Assert.Equal(1, counted.GetValueOrDefault("became.tasks.learned"));
    }
}
