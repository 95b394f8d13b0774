using Became.Agent.Jobs;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Agent.Tests.Agent;
using Became.Core.Serialization;
using Became.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Became.Agent.Tests.Jobs;

/// <summary>JobRunner on a real store and real training, without a broker or a host; delays on a fake clock.</summary>
[Trait("Speed", "Slow")]
public sealed class JobRunnerTests : IDisposable
{
    private readonly DiskFull _disk = new();
    private readonly UnitRig _rig;
    private readonly RetrySchedule _retries;
    private readonly JobRunner _runner;

    public JobRunnerTests()
    {
        _rig = new UnitRig(faults: _disk);
        _retries = _rig.Get<RetrySchedule>();
        _runner = _rig.Get<JobRunner>();
    }

    public void Dispose() => _rig.Dispose();

    [Fact]
    public async Task Job_trains_commits_and_deploys_the_task()
    {
        var task = _rig.Store.AddTask("t-0", null, 2, 200, 0.1, AgentHarness.SplitTask(0, 200));

        await _runner.RunAsync(task, CancellationToken.None);

        Assert.Equal(TaskState.Learned, _rig.Store.FindTask("t-0")!.State);
        Assert.Equal(1, _rig.Deployed.Current.Version);
        Assert.Equal(1, _rig.Events.Single(EventTypes.ModelDeployed).Body.GetProperty("version").GetInt32());
        Assert.Contains(_rig.Events.All, e => e.Type == EventTypes.TrainingProgress);
        // Training, then the same with the epoch reached (republished at most once a second), then idle.
        var statuses = _rig.Events.Statuses;
        Assert.Equal((AgentState.Training, null), (statuses[0].State, statuses[0].Progress));
        Assert.All(statuses.Skip(1).SkipLast(1), s => Assert.True(s.State == AgentState.Training && s.Progress is not null, $"{s}"));
        Assert.Equal((AgentState.Idle, null), (statuses[^1].State, statuses[^1].Progress));
    }

    [Fact]
    public async Task Job_serves_the_network_it_trained_in_evaluation_mode_without_gradients_with_the_weights_of_its_model_file()
    {
        var task = _rig.Store.AddTask("t-0", null, 2, 200, 0.1, AgentHarness.SplitTask(0, 200));

        await _runner.RunAsync(task, CancellationToken.None);

        var served = _rig.Deployed.Current.Network!;
        var file = SafeTensorsFile.Parse(_rig.Store.Blobs.Get(_rig.Store.Deployed()!.ModelBlob));
        Assert.False(served.Training);
        Assert.All(served.Parameters, p => Assert.True(p.Tensor.grad is null, $"{p.Name} still holds a gradient"));
        Assert.Equal(file.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), served.Parameters.Select(p => p.Name).Order(StringComparer.Ordinal));
        foreach (var p in served.Parameters)
        {
            using var stored = SafeTensorsFile.ToTensor(file.Find(p.Name)!);
            Assert.True(stored.eq(p.Tensor.cpu()).all().item<bool>(), $"{p.Name} differs from the model file");
        }
    }

    [Fact]
    public async Task Task_whose_payload_cannot_be_decoded_fails_for_good()
    {
        var task = _rig.Store.AddTask("t-0", null, 2, 200, 0.1, [1, 2, 3]);

        await _runner.RunAsync(task, CancellationToken.None);

        Assert.Equal(TaskState.Failed, _rig.Store.FindTask("t-0")!.State);
        Assert.False(_rig.Events.Single(EventTypes.JobFailed).Body.GetProperty("retry").GetBoolean());
        Assert.StartsWith("t-0: ", _rig.Status.LastError);
        Assert.Equal(AgentState.Idle, _rig.Status.State);
    }

    [Fact]
    public async Task Transient_failure_holds_the_task_back_until_the_clock_passes_its_backoff()
    {
        var task = _rig.Store.AddTask("t-0", null, 2, 200, 0.1, AgentHarness.SplitTask(0, 200));
        _disk.Full = true;

        await _runner.RunAsync(task, CancellationToken.None);

        var failed = _rig.Events.Single(EventTypes.JobFailed).Body;
        Assert.True(failed.GetProperty("retry").GetBoolean());
        Assert.Equal(1, failed.GetProperty("attempt").GetInt32());
        var stored = _rig.Store.QueuedTasks().Single();
        var backoff = TimeSpan.FromSeconds(failed.GetProperty("retryInSeconds").GetDouble());
        Assert.Equal(backoff, _retries.Wait(stored));

        _rig.Time.Advance(backoff - TimeSpan.FromSeconds(1));
        Assert.True(_retries.Wait(stored) > TimeSpan.Zero, "still backing off a second before the retry");
        _rig.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(_retries.Wait(stored) <= TimeSpan.Zero, "due once the backoff has passed");
    }

    /// <summary>A disk that fills on demand: every blob write fails as ENOSPC does.</summary>
    private sealed class DiskFull : IStorageFaults
    {
        public volatile bool Full;

        public void BeforeWrite(string path, long bytes)
        {
            if (Full)
            {
                throw new IOException("No space left on device");
            }
        }

        public void BeforeCommit(string taskId)
        {
        }
    }
}
