using Became.Agent.Jobs;
using Became.Agent.Storage;
using Became.Agent.Tests.Agent;

namespace Became.Agent.Tests.Jobs;

/// <summary>The network a job trained is the one that serves (it is not built again), stripped of what only training needs.</summary>
[Trait("Speed", "Slow")]
public sealed class ServedNetworkTests : IDisposable
{
    private readonly UnitRig _rig = new(o =>
    {
        o.Model.Architecture = "alexnet:0.125";
        o.Model.InputShape = [1, 28, 28];
        o.Training.BatchSize = 32;
    });

    public void Dispose() => _rig.Dispose();

    [Fact]
    public async Task An_alexnet_job_serves_its_network_without_the_gradients_training_left_on_it()
    {
        var task = _rig.Store.AddTask("t-0", null, 2, 200, 0.1, AgentHarness.SplitTask(0, 200));

        await _rig.Get<JobRunner>().RunAsync(task, CancellationToken.None);

        Assert.Equal(TaskState.Learned, _rig.Store.FindTask("t-0")!.State);
        var served = _rig.Deployed.Current.Network!;
        Assert.False(served.Training);
        Assert.All(served.Parameters, p => Assert.True(p.Tensor.grad is null, $"{p.Name} still holds a gradient"));
    }
}
