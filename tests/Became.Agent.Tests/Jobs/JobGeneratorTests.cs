using Became.Agent.Jobs;
using Became.Agent.Storage;
using Became.Agent.Tests.Agent;

namespace Became.Agent.Tests.Jobs;

/// <summary>Not run beside other tests: it reads the process's global torch generator, which they may seed.</summary>
[CollectionDefinition(nameof(GlobalTorchGenerator), DisableParallelization = true)]
public sealed class GlobalTorchGenerator;

/// <summary>A job draws its randomness (dropout) from generators of its own, not from the process's global one.</summary>
[Trait("Speed", "Slow")]
[Collection(nameof(GlobalTorchGenerator))]
public sealed class JobGeneratorTests : IDisposable
{
    private readonly UnitRig _rig = new();

    public void Dispose() => _rig.Dispose();

    [Fact]
    public async Task A_job_leaves_the_process_global_generator_seeded_as_it_was()
    {
        var task = _rig.Store.AddTask("t-0", null, 2, 200, 0.1, AgentHarness.SplitTask(0, 200));
        TorchSharp.torch.manual_seed(12345);

        await _rig.Get<JobRunner>().RunAsync(task, CancellationToken.None);

        Assert.Equal(TaskState.Learned, _rig.Store.FindTask("t-0")!.State);
        Assert.Equal(12345L, TorchSharp.torch.initial_seed());
    }
}
