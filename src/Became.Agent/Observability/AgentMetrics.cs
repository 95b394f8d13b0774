using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;
using Became.Agent.Deployment;
using Became.Agent.Messaging;
using Became.Agent.Mqtt;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Core.Native;
using Became.Core.Training;
using Became.Protocol;
using OpenTelemetry.Metrics;

namespace Became.Agent.Observability;

/// <summary>The transports an inference request comes by (the <c>transport</c> label).</summary>
public static class InferenceTransport
{
    public const string Http = "http";
    public const string Mqtt = "mqtt";
}

/// <summary>
/// The agent's instruments (meter <see cref="MeterName"/>), exported at GET /metrics in Prometheus text. Counters of
/// tasks and models are fed from <see cref="EventFeed.Published"/>, so the job code does not know about metrics; the
/// gauges are read when scraped. OpenTelemetry's exporter turns the dotted names into Prometheus names (dots to
/// underscores, the unit <c>s</c> to <c>_seconds</c>, <c>By</c> to <c>_bytes</c> (<c>1</c> adds nothing), counters
/// get <c>_total</c>); the names below are chosen so that the result is the conventional one.
/// </summary>
/// <remarks>Label values are bounded: <c>reason</c> takes the documented error codes, <c>task</c> the task ids of the
/// deployed model (one per head), <c>state</c> and <c>transport</c> a fixed set.</remarks>
public sealed class AgentMetrics : IDisposable
{
    /// <summary>The meter every instrument of the agent belongs to.</summary>
    public const string MeterName = "Became.Agent";

    private static readonly string[] States = [AgentState.Idle, AgentState.Training];

    // The kinds of job.failed (its own reason is free text): retried later, final, or after the version was committed.
    private static readonly string[] FailureReasons = ["transient", "error", "after_commit"];

    private readonly Meter _meter;
    private readonly EventFeed _feed;
    private readonly AgentStore _store;
    private readonly DeployedModel _deployed;
    private readonly Counter<long> _accepted;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _learned;
    private readonly Counter<long> _adopted;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _gateRejected;
    private readonly Counter<long> _corrupt;
    private readonly Counter<long> _rollbacks;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _inferenceErrors;
    private readonly Histogram<double> _trainingDuration;
    private readonly Histogram<double> _inferenceDuration;
    private readonly Lock _gate = new();
    private (double Stage1, double? Stage2)? _samplesPerSecond;
    private ModelVersionRecord? _deployedRecord;

    // meters: the host's factory, whose scope tells this agent's instruments from another agent's in the same process.
    // provider: taken so that the provider listens before the instruments exist (else the zeros below are lost).
    public AgentMetrics(IMeterFactory meters, MeterProvider provider, EventFeed feed, AgentStore store, DeployedModel deployed, DeviceStatus status, MqttConnection connection, ComputeDevice device)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(provider);
        _feed = feed;
        _store = store;
        _deployed = deployed;
        string version = typeof(AgentMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        _meter = meters.Create(new MeterOptions(MeterName) { Version = version });

        _meter.CreateObservableGauge("became.build.info", () => BuildInfo(version, device), description: "Always 1; the labels say the agent's version, the libtorch backend and version, and the compute device.");
        _meter.CreateObservableGauge("became.state", () => States.Select(s => new Measurement<int>(s == status.State ? 1 : 0, new KeyValuePair<string, object?>("state", s))), description: "1 for the agent's current job state (idle or training), 0 for the others.");
        _meter.CreateObservableGauge("became.queue.length", () => status.Current().QueueLength, "{task}", "Tasks waiting to be trained, including the one training.");
        _meter.CreateObservableGauge("became.deployed.version", () => deployed.Current.Version, description: "Deployed model version (0 before the first task is learned).");
        _meter.CreateObservableGauge("became.deployed.tasks", () => deployed.Current.TaskIds.Count, "{task}", "Tasks the deployed model knows (one head each).");
        _meter.CreateObservableGauge("became.deployed.accuracy_ratio", DeployedAccuracy, "1", "Held-out test accuracy of the deployed model on each task it knows (0 to 1).");
        _meter.CreateObservableGauge("became.task_agnostic.accuracy_ratio", TaskAgnosticAccuracy, "1", "Held-out accuracy of the deployed model without a task id, over every task's set (0 to 1; absent when it cannot answer without one).");
        _meter.CreateObservableGauge("became.deployed.merge_coefficient", MergeCoefficient, description: "Merge coefficient of the deployed version (absent when it did not merge: the first task, or a method without a merge).");
        _meter.CreateObservableGauge("became.training.samples_per_second", SamplesPerSecond, description: "Training throughput of the last learned task, per stage (training steps only, validation excluded).");
        _meter.CreateObservableGauge("became.mqtt.connected", () => connection.IsConnected ? 1 : 0, description: "1 while the broker connection is up.");
        _meter.CreateObservableGauge("became.mqtt.outbox.length", () => connection.OutboxCount, "{message}", "Publications waiting in the outbox for the next broker connection.");
        _meter.CreateObservableCounter("became.mqtt.reconnects", () => connection.Reconnects, "{reconnect}", "Broker connections made again after one was lost or failed.");
        _meter.CreateObservableGauge("process.resident_memory", () => Environment.WorkingSet, "By", "Resident memory (RSS) of the agent process, libtorch included.");

        _accepted = _meter.CreateCounter<long>("became.tasks.accepted", "{task}", "Tasks accepted into the queue.");
        _rejected = _meter.CreateCounter<long>("became.tasks.rejected", "{task}", "Task messages refused at intake, by reason (the task.rejected reason codes).");
        _learned = _meter.CreateCounter<long>("became.tasks.learned", "{task}", "Tasks learned and deployed.");
        _adopted = _meter.CreateCounter<long>("became.versions.adopted", "{version}", "Versions adopted from another device and deployed.");
        _failed = _meter.CreateCounter<long>("became.tasks.failed", "{task}", "Failed jobs by reason: transient (retried later), error (final), after_commit (learned, a later step failed).");
        _gateRejected = _meter.CreateCounter<long>("became.models.rejected", "{model}", "Versions the deployment gate kept from being deployed.");
        _corrupt = _meter.CreateCounter<long>("became.models.corrupt", "{model}", "Versions whose files failed their checksum.");
        _rollbacks = _meter.CreateCounter<long>("became.rollbacks", "{rollback}", "Rollbacks to an earlier version.");
        _dropped = _meter.CreateCounter<long>("became.mqtt.dropped", "{message}", "Publications given up, by reason (the message.dropped reason codes).");
        _inferenceErrors = _meter.CreateCounter<long>("became.inference.errors", "{request}", "Inference requests answered with an error, by transport and error code.");
        _trainingDuration = _meter.CreateHistogram("became.training.duration", "s", "Training time of each learned task (both stages and the merge).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200] });
        _inferenceDuration = _meter.CreateHistogram("became.inference.duration", "s", "Time to parse and answer an inference request, by transport (its count is the number answered).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });

        // Series that exist from the start, at 0, so that rate() and increase() see the first event (Prometheus's advice
        // for label values known in advance); task rejections and inference errors appear with their first code.
        foreach (var counter in new[] { _accepted, _learned, _adopted, _gateRejected, _corrupt, _rollbacks })
        {
            counter.Add(0);
        }

        foreach (string reason in FailureReasons)
        {
            _failed.Add(0, new KeyValuePair<string, object?>("reason", reason));
        }

        foreach (string reason in new[] { MqttDropReasons.TooLarge, MqttDropReasons.Undeliverable, MqttDropReasons.Refused })
        {
            _dropped.Add(0, new KeyValuePair<string, object?>("reason", reason));
        }

        feed.Published += OnEvent;
    }

    /// <summary>Times one inference request (parse and predict) and counts it, or counts its refusal by code.</summary>
    public T MeasureInference<T>(string transport, Func<T> answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        long started = Stopwatch.GetTimestamp();
        try
        {
            var result = answer();
            _inferenceDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("transport", transport));
            return result;
        }
        catch (RequestRejectedException e)
        {
            _inferenceErrors.Add(1, new KeyValuePair<string, object?>("transport", transport), new KeyValuePair<string, object?>("error", e.Code));
            throw;
        }
    }


    /// <summary>Records the throughput of a learned task's stages (there is no event that carries it).</summary>
    public void Trained(TaskOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        lock (_gate)
        {
            _samplesPerSecond = (outcome.Stage1.SamplesPerSecond, outcome.Stage2?.SamplesPerSecond);
        }
    }

    public void Dispose()
    {
        // The meter belongs to the factory, which disposes it with the host.
        _feed.Published -= OnEvent;
    }

    // Called on the publisher's thread: only counting here, nothing that can block or throw.
    private void OnEvent(FeedEntry entry)
    {
        switch (entry.Body)
        {
            case TaskAccepted:
                _accepted.Add(1);
                break;
            case TaskRejected rejected:
                _rejected.Add(1, new KeyValuePair<string, object?>("reason", rejected.Reason));
                break;
            case ModelDeployed { Rollback: true }:
                _rollbacks.Add(1);
                break;
            case ModelDeployed { AdoptedFrom: not null }:
                // Another device learned these tasks: an adoption is not a task learned here.
                _adopted.Add(1);
                break;
            case ModelDeployed deployed:
                _learned.Add(1);
                if (deployed.TrainingSeconds is { } seconds)
                {
                    _trainingDuration.Record(seconds);
                }

                break;
            case ModelRejected:
                _gateRejected.Add(1);
                break;
            case ModelCorrupt:
                _corrupt.Add(1);
                break;
            case JobFailed failed:
                // The event's reason is the failure's text; the label is its kind, so that it stays a small set.
                _failed.Add(1, new KeyValuePair<string, object?>("reason", failed.Committed == true ? "after_commit" : failed.Retry ? "transient" : "error"));
                break;
            case MessageDropped dropped:
                _dropped.Add(1, new KeyValuePair<string, object?>("reason", dropped.Reason));
                break;
        }
    }

    private static Measurement<int> BuildInfo(string version, ComputeDevice device)
    {
        string libtorch;
        try
        {
            libtorch = TorchBackendInfo.Current().LibTorchVersion;
        }
        catch (Exception e) when (TorchRuntime.IsLoadFailure(e))
        {
            libtorch = "unavailable";
        }

        return new Measurement<int>(1,
            new KeyValuePair<string, object?>("version", version),
            new KeyValuePair<string, object?>("backend", TorchBackendInfo.BuildBackend),
            new KeyValuePair<string, object?>("libtorch", libtorch),
            new KeyValuePair<string, object?>("device", device.ToString()));
    }

    private IEnumerable<Measurement<double>> DeployedAccuracy()
    {
        // Stored accuracies are percentages (two decimals); Prometheus wants ratios, without the division's last-bit noise.
        return (DeployedRecord()?.Accuracy ?? []).Select(a => new Measurement<double>(Math.Round(a.Value / 100, 6), new KeyValuePair<string, object?>("task", a.Key)));
    }

    private IEnumerable<Measurement<double>> TaskAgnosticAccuracy() =>
        DeployedRecord()?.TaskAgnosticAccuracy is { } percent ? [new Measurement<double>(Math.Round(percent / 100, 6))] : [];

    private IEnumerable<Measurement<double>> MergeCoefficient() =>
        DeployedRecord()?.MergeCoefficient is { } a ? [new Measurement<double>(a)] : [];

    private IEnumerable<Measurement<double>> SamplesPerSecond()
    {
        (double Stage1, double? Stage2)? rates;
        lock (_gate)
        {
            rates = _samplesPerSecond;
        }

        if (rates is not { } r)
        {
            yield break;
        }

        yield return new Measurement<double>(r.Stage1, new KeyValuePair<string, object?>("stage", "1"));
        if (r.Stage2 is { } stage2 and > 0)
        {
            yield return new Measurement<double>(stage2, new KeyValuePair<string, object?>("stage", "2"));
        }
    }

    // The deployed version's record, read from the store once per version rather than at every scrape.
    private ModelVersionRecord? DeployedRecord()
    {
        int version = _deployed.Current.Version;
        lock (_gate)
        {
            if (version == 0 || _deployedRecord?.Version == version)
            {
                return version == 0 ? null : _deployedRecord;
            }
        }

        ModelVersionRecord? record;
        try
        {
            record = _store.FindVersion(version);
        }
        catch (Exception e) when (StorageFailure.IsTransient(e))
        {
            // A store that cannot be read now (a full disk) leaves the last figures standing.
            lock (_gate)
            {
                return _deployedRecord;
            }
        }

        lock (_gate)
        {
            _deployedRecord = record;
            return record;
        }
    }
}
