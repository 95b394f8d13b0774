using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Agent.Hosting;
using Became.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Became.Testing;

/// <summary>
/// The agent's parts without a started host or a broker: the agent's own service graph (AgentHost.Build, never
/// started) on a real store on LiteDB files in a temp folder, with a fake clock and events kept in memory (the
/// messaging that would carry them is not under test here) registered over the agent's, as the harness's seams are.
/// </summary>
internal sealed class UnitRig : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("became-unit-").FullName;
    private readonly IHost _host;

    /// <param name="configure">Settings over the agent's defaults (one epoch, CPU).</param>
    /// <param name="faults">Injected storage faults, if any.</param>
    /// <param name="services">More registrations over the agent's (e.g. the replies a test reads).</param>
    public UnitRig(Action<AgentOptions>? configure = null, IStorageFaults? faults = null, Action<IServiceCollection>? services = null)
    {
        _host = AgentHost.Build([$"--DataDirectory={_directory}", "--Device=cpu", "--Training:Epochs=1", "--Logging:LogLevel:Default=Warning"], s =>
        {
            s.AddSingleton<TimeProvider>(Time);
            s.AddSingleton<IAgentEvents>(Events);
            if (faults is not null)
            {
                s.AddSingleton(faults);
            }

            if (configure is not null)
            {
                s.Configure(configure);
            }

            services?.Invoke(s);
        });
    }

    /// <summary>The agent's service of type <typeparamref name="T"/>, as the agent would build it.</summary>
    public T Get<T>()
        where T : notnull => _host.Services.GetRequiredService<T>();

    public IOptions<AgentOptions> Options => Get<IOptions<AgentOptions>>();

    public AgentStore Store => Get<AgentStore>();

    public DeployedModel Deployed => Get<DeployedModel>();

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public RecordedEvents Events { get; } = new();

    public DeviceStatus Status => Get<DeviceStatus>();

    public DeploymentQueue Queue => Get<DeploymentQueue>();

    public VersionRollback Rollback => Get<VersionRollback>();

    /// <summary>Commits a version whose files are stand-in bytes (whole and checksummed, but no model).</summary>
    public ModelVersionRecord CommitStandIn(string taskId)
    {
        var task = Store.AddTask(taskId, null, 2, 100, 0.1, [1, 2, (byte)taskId.Length]);
        return Store.Commit(new CommittedTask(task, Store.NextVersion(), 0, [1, (byte)task.Sequence], [2, (byte)task.Sequence], [3, (byte)task.Sequence], [2], null, [1], new Dictionary<string, double> { [taskId] = 90 }, 1));
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
        _host.Dispose();
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
