using Became.Core.Merging;
using static TorchSharp.torch;

namespace Became.Core.Tests.Algorithm;

/// <summary>The accumulated Fisher F_old ← F_t + γ F_old.</summary>
public sealed class FisherMemoryTests
{
    [Fact]
    public void Accumulate_adds_the_task_Fisher_to_the_old_one_decayed_by_gamma()
    {
        // γ = 0.5: [1, 2] → 0.5·[1, 2] + [4, 4] = [4.5, 5] → 0.5·[4.5, 5] + [0, 0] = [2.25, 2.5].
        using var scope = NewDisposeScope();
        using var memory = new FisherMemory(0.5);

        memory.Accumulate(new() { ["w"] = tensor(new[] { 1f, 2f }) });
        Assert.Equal([1f, 2f], memory.Values["w"].data<float>().ToArray());

        memory.Accumulate(new() { ["w"] = tensor(new[] { 4f, 4f }) });
        Assert.Equal([4.5f, 5f], memory.Values["w"].data<float>().ToArray());

        memory.Accumulate(new() { ["w"] = tensor(new[] { 0f, 0f }) });
        Assert.Equal([2.25f, 2.5f], memory.Values["w"].data<float>().ToArray());
    }

    [Fact]
    public void Accumulate_decays_parameters_the_new_task_lacks_and_adds_new_ones()
    {
        // A head's Fisher enters once, then only decays; a new head's Fisher joins as it is.
        using var scope = NewDisposeScope();
        using var memory = new FisherMemory(0.5);

        memory.Accumulate(new() { ["heads.0.weight"] = tensor(new[] { 8f }) });
        memory.Accumulate(new() { ["heads.1.weight"] = tensor(new[] { 3f }) });

        Assert.Equal([4f], memory.Values["heads.0.weight"].data<float>().ToArray());
        Assert.Equal([3f], memory.Values["heads.1.weight"].data<float>().ToArray());
    }

    [Fact]
    public void Gamma_one_sums_every_task_Fisher()
    {
        using var scope = NewDisposeScope();
        using var memory = new FisherMemory();

        memory.Accumulate(new() { ["w"] = tensor(new[] { 1f, 2f }) });
        memory.Accumulate(new() { ["w"] = tensor(new[] { 4f, 4f }) });

        Assert.Equal([5f, 6f], memory.Values["w"].data<float>().ToArray());
    }
}
