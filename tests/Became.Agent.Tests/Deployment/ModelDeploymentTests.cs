using Became.Agent.Deployment;
using Became.Agent.Protocol;
using Became.Protocol;

namespace Became.Agent.Tests.Deployment;

/// <summary>ModelDeployment on a real store, without a broker or a training run: rollbacks, queued and refused.</summary>
public sealed class ModelDeploymentTests : IDisposable
{
    private readonly UnitRig _rig = new();

    public void Dispose() => _rig.Dispose();

    [Fact]
    public async Task Rollback_to_a_version_that_does_not_exist_is_null()
    {
        Assert.Null(await _rig.Deployment.RollbackAsync(7, CancellationToken.None));
        await _rig.Deployment.BeginJobAsync(CancellationToken.None);
        Assert.Null(await _rig.Deployment.RollbackAsync(7, CancellationToken.None));
    }

    [Fact]
    public async Task Rollback_while_a_job_is_in_flight_is_queued_and_the_later_one_wins()
    {
        var v1 = _rig.CommitStandIn("a");
        var v2 = _rig.CommitStandIn("b");
        await _rig.Deployment.BeginJobAsync(CancellationToken.None);

        var first = await _rig.Deployment.RollbackAsync(v1.Version, CancellationToken.None);
        var second = await _rig.Deployment.RollbackAsync(v2.Version, CancellationToken.None);

        Assert.Equal(new RollbackResult(v1.Version, Deployed: false, Queued: true), first);
        Assert.Equal(new RollbackResult(v2.Version, Deployed: false, Queued: true), second);
        Assert.Equal(v2.Version, _rig.Store.Deployed()!.Version);
        Assert.Empty(_rig.Events.All);
    }

    [Fact]
    public async Task Rollback_to_a_version_with_a_damaged_file_is_refused_marked_and_announced()
    {
        var v1 = _rig.CommitStandIn("a");
        _rig.CommitStandIn("b");
        _rig.Damage(v1.StateBlob);
        await _rig.Deployment.BeginJobAsync(CancellationToken.None);

        var refused = await Assert.ThrowsAsync<RequestRejectedException>(() => _rig.Deployment.RollbackAsync(v1.Version, CancellationToken.None));

        Assert.Equal(ErrorCodes.CorruptVersion, refused.Code);
        Assert.NotNull(_rig.Store.FindVersion(v1.Version)!.Corrupt);
        var corrupt = _rig.Events.Single(EventTypes.ModelCorrupt);
        Assert.Equal(v1.Version, corrupt.Body.GetProperty("version").GetInt32());
        Assert.Equal(0, corrupt.Body.GetProperty("lostTasks").GetArrayLength());
    }

    [Fact]
    public async Task Queued_rollback_that_cannot_be_loaded_as_the_job_ends_is_reported_in_the_status()
    {
        var v1 = _rig.CommitStandIn("a");
        _rig.CommitStandIn("b");
        await _rig.Deployment.BeginJobAsync(CancellationToken.None);
        await _rig.Deployment.RollbackAsync(v1.Version, CancellationToken.None);

        // The stand-in files are whole but hold no model: applying the rollback fails, and the job's end still completes.
        await _rig.Deployment.EndJobAsync(CancellationToken.None);

        Assert.StartsWith($"queued rollback to version {v1.Version}", _rig.Status.LastError);
        Assert.Null(await _rig.Deployment.RollbackAsync(99, CancellationToken.None));
    }
}
