using Became.Agent.Deployment;
using Became.Agent.Storage;

namespace Became.Agent.Tests.Deployment;

/// <summary>The one queue that moves the deployed model: commands before jobs, one at a time, and the version number a
/// job chose as it started is the one its commit gets.</summary>
public sealed class DeploymentQueueTests : IDisposable
{
    private readonly UnitRig _rig = new();

    public void Dispose() => _rig.Dispose();

    [Fact]
    public async Task Commands_run_in_the_order_submitted_before_the_next_job()
    {
        var ran = new List<string>();
        var first = new Recorded("first", ran);
        var second = new Recorded("second", ran);

        Assert.False(_rig.Queue.Submit(first));
        Assert.False(_rig.Queue.Submit(second));
        Assert.False(_rig.Queue.TryBeginJob());
        await _rig.Queue.RunCommandsAsync(CancellationToken.None);

        Assert.Equal(["first", "second"], ran);
        Assert.True(first.Completion.IsCompletedSuccessfully && second.Completion.IsCompletedSuccessfully);
        Assert.True(_rig.Queue.TryBeginJob());
    }

    [Fact]
    public async Task A_command_queued_behind_a_job_is_replaced_by_a_later_one()
    {
        var ran = new List<string>();
        Assert.True(_rig.Queue.TryBeginJob());
        var replaced = new Recorded("replaced", ran);

        Assert.True(_rig.Queue.Submit(replaced));
        Assert.True(_rig.Queue.Submit(new Recorded("later", ran)));
        _rig.Queue.EndJob();
        await _rig.Queue.RunCommandsAsync(CancellationToken.None);

        Assert.Equal(["later"], ran);
        Assert.True(replaced.Completion.IsCanceled);
    }

    [Fact]
    public async Task A_waiting_requester_is_cancelled_when_the_agent_stops()
    {
        var waiting = new Recorded("waiting", []);
        _rig.Queue.Submit(waiting);

        _rig.Queue.CancelWaiting();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.Completion);
        Assert.True(_rig.Queue.TryBeginJob());
    }

    [Fact]
    public void Commit_refuses_a_version_number_that_is_not_the_next_and_stores_nothing()
    {
        var task = _rig.Store.AddTask("a", null, 2, 100, 0.1, [1, 2, 3]);
        int next = _rig.Store.NextVersion();

        var refused = Assert.Throws<InvalidOperationException>(() => _rig.Store.Commit(
            new CommittedTask(task, next + 1, 0, [1], [2], [3], [2], null, [1], new Dictionary<string, double> { ["a"] = 90 }, 1)));

        Assert.Contains($"written as version {next + 1}", refused.Message, StringComparison.Ordinal);
        Assert.Null(_rig.Store.FindVersion(next + 1));
        Assert.Equal(TaskState.Queued, _rig.Store.FindTask("a")!.State);
        Assert.Equal(next, _rig.Store.NextVersion());
    }

    /// <summary>A command that only records that it ran.</summary>
    private sealed class Recorded(string name, List<string> ran) : DeploymentCommand
    {
        public override string Description => name;

        protected override Task ExecuteAsync(CancellationToken cancellationToken)
        {
            ran.Add(name);
            return Task.CompletedTask;
        }
    }
}
