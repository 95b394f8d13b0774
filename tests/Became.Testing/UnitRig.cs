using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Core.Native;
using Became.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Became.Testing;

/// <summary>
/// The agent's parts without a host or a broker: a real store on LiteDB files in a temp folder, a fake clock, and
/// events kept in memory (the messaging that would carry them is not under test here).
/// </summary>
internal sealed class UnitRig : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("became-unit-").FullName;

    public UnitRig(Action<AgentOptions>? configure = null, IStorageFaults? faults = null)
    {
        var options = new AgentOptions { DataDirectory = _directory, Device = "cpu" };
        options.Training.Epochs = 1;
        configure?.Invoke(options);
        new AgentOptionsDefaults().PostConfigure(null, options);
        Options = Microsoft.Extensions.Options.Options.Create(options);
        Store = new AgentStore(_directory, faults);
        Status = new DeviceStatus(Store, Deployed, Time);
        Deployment = new ModelDeployment(Store, Deployed, Events, Status, Options, ComputeDevice.Cpu, NullLogger<ModelDeployment>.Instance);
    }

    public IOptions<AgentOptions> Options { get; }

    public AgentStore Store { get; }

    public DeployedModel Deployed { get; } = new();

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public RecordedEvents Events { get; } = new();

    public DeviceStatus Status { get; }

    public ModelDeployment Deployment { get; }

    /// <summary>Commits a version whose files are stand-in bytes (whole and checksummed, but no model).</summary>
    public ModelVersionRecord CommitStandIn(string taskId)
    {
        var task = Store.AddTask(taskId, null, 2, 100, 0.1, [1, 2, (byte)taskId.Length]);
        return Store.Commit(new CommittedTask(task, 0, [1, (byte)task.Sequence], [2, (byte)task.Sequence], [3, (byte)task.Sequence], [2], null, [1], new Dictionary<string, double> { [taskId] = 90 }, 1));
    }

    /// <summary>Flips a byte of a stored blob, as a failing disk would.</summary>
    public void Damage(string blob)
    {
        string path = Directory.EnumerateFiles(Store.Blobs.Directory, "*", SearchOption.AllDirectories).Single(f => Path.GetFileName(f).StartsWith(blob, StringComparison.Ordinal));
        var bytes = File.ReadAllBytes(path);
        bytes[0] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
    }

    public void Dispose()
    {
        Deployment.Dispose();
        Deployed.Dispose();
        Store.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>Events and statuses as they would go out, as JSON, in order.</summary>
internal sealed class RecordedEvents : IAgentEvents
{
    private readonly List<(string Type, string? TaskId, JsonElement Body)> _events = [];
    private readonly List<AgentStatus> _statuses = [];

    public IReadOnlyList<(string Type, string? TaskId, JsonElement Body)> All
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    public IReadOnlyList<AgentStatus> Statuses
    {
        get
        {
            lock (_statuses)
            {
                return [.. _statuses];
            }
        }
    }

    public (string Type, string? TaskId, JsonElement Body) Single(string type) => Assert.Single(All, e => e.Type == type);

    public Task PublishAsync<TEvent>(string? taskId, TEvent body, CancellationToken cancellationToken)
        where TEvent : IAgentEvent
    {
        var json = JsonSerializer.SerializeToElement(body, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<TEvent>)AgentJsonContext.Default.GetTypeInfo(typeof(TEvent))!);
        lock (_events)
        {
            _events.Add((TEvent.Type, taskId, json));
        }

        return Task.CompletedTask;
    }

    public Task PublishStatusAsync(AgentStatus status, CancellationToken cancellationToken)
    {
        lock (_statuses)
        {
            _statuses.Add(status);
        }

        return Task.CompletedTask;
    }
}
