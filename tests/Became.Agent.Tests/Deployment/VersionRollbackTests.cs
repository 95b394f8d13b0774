using Became.Agent.Deployment;
using Became.Agent.Protocol;
using Became.Protocol;

namespace Became.Agent.Tests.Deployment;

/// <summary>Rollbacks on the deployment queue, on a real store, without a broker or a training run: applied before the
/// next job, queued behind one in flight, and refused.</summary>
public sealed class VersionRollbackTests : IDisposable
{
    private readonly UnitRig _rig = new();

    public void Dispose() => _rig.Dispose();

    /// <summary>Asks for a rollback with no job in flight and runs the queue as the worker would.</summary>
    private async Task<RollbackResult?> RollbackNowAsync(int version)
    {
        var answer = _rig.Rollback.RequestAsync(version, CancellationToken.None);
        await _rig.Queue.RunCommandsAsync(CancellationToken.None);
        return await answer;
    }

    [Fact]
    public async Task Rollback_to_a_version_that_does_not_exist_is_null()
    {
        Assert.Null(await RollbackNowAsync(7));
        Assert.True(_rig.Queue.TryBeginJob());
        Assert.Null(await _rig.Rollback.RequestAsync(7, CancellationToken.None));
    }

    [Fact]
    public async Task Rollback_with_no_job_in_flight_runs_before_the_next_job_and_answers_once_applied()
    {
        var v1 = _rig.CommitStandIn("a");
        _rig.CommitStandIn("b");

        var answer = _rig.Rollback.RequestAsync(v1.Version, CancellationToken.None);

        Assert.False(answer.IsCompleted, "answered only once the worker has applied it");
        Assert.False(_rig.Queue.TryBeginJob(), "a waiting command runs before the next job");
        await _rig.Queue.RunCommandsAsync(CancellationToken.None);

        // The stand-in files hold no model: the pointer moved, and the load failed, which the requester hears.
        await Assert.ThrowsAnyAsync<Exception>(() => answer);
        Assert.True(_rig.Queue.TryBeginJob(), "the queue is free again");
    }

    [Fact]
    public async Task Rollback_while_a_job_is_in_flight_is_queued_and_the_later_one_wins()
    {
        var v1 = _rig.CommitStandIn("a");
        var v2 = _rig.CommitStandIn("b");
        var v3 = _rig.CommitStandIn("c");
        Assert.True(_rig.Queue.TryBeginJob());

        var first = await _rig.Rollback.RequestAsync(v1.Version, CancellationToken.None);
        var second = await _rig.Rollback.RequestAsync(v2.Version, CancellationToken.None);

        Assert.Equal(new RollbackResult(v1.Version, Deployed: false, Queued: true), first);
        Assert.Equal(new RollbackResult(v2.Version, Deployed: false, Queued: true), second);
        Assert.Equal(v3.Version, _rig.Store.Deployed()!.Version);
        Assert.Empty(_rig.Events.All);

        _rig.Queue.EndJob();
        await _rig.Queue.RunCommandsAsync(CancellationToken.None);
        Assert.Equal(v2.Version, _rig.Store.Deployed()!.Version);
    }

    [Fact]
    public async Task Rollback_to_a_version_with_a_damaged_file_is_refused_marked_and_announced()
    {
        var v1 = _rig.CommitStandIn("a");
        _rig.CommitStandIn("b");
        _rig.Damage(v1.StateBlob);
        Assert.True(_rig.Queue.TryBeginJob());

        var refused = await Assert.ThrowsAsync<RequestRejectedException>(() => _rig.Rollback.RequestAsync(v1.Version, CancellationToken.None));

        Assert.Equal(ErrorCodes.CorruptVersion, refused.Code);
        Assert.NotNull(_rig.Store.FindVersion(v1.Version)!.Corrupt);
        var corrupt = _rig.Events.Single(EventTypes.ModelCorrupt);
        Assert.Equal(v1.Version, corrupt.Body.GetProperty("version").GetInt32());
        Assert.Equal(0, corrupt.Body.GetProperty("lostTasks").GetArrayLength());
        _rig.Queue.EndJob();
        Assert.True(_rig.Queue.TryBeginJob(), "nothing was queued");
    }

    [Fact]
    public async Task Queued_rollback_that_cannot_be_loaded_as_the_job_ends_is_reported_in_the_status()
    {
        var v1 = _rig.CommitStandIn("a");
        _rig.CommitStandIn("b");
        Assert.True(_rig.Queue.TryBeginJob());
        await _rig.Rollback.RequestAsync(v1.Version, CancellationToken.None);

        // The stand-in files are whole but hold no model: applying the rollback fails, and the queue still drains.
        _rig.Queue.EndJob();
        await _rig.Queue.RunCommandsAsync(CancellationToken.None);

        Assert.StartsWith($"queued rollback to version {v1.Version}", _rig.Status.LastError);
        Assert.True(_rig.Queue.TryBeginJob());
        Assert.Null(await _rig.Rollback.RequestAsync(99, CancellationToken.None));
    }
}
