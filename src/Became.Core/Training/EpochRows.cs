using Became.Core.Data;
using static TorchSharp.torch;

namespace Became.Core.Training;

/// <summary>The rows of an epoch in its shuffled order, gathered a batch (or a chunk) at a time.</summary>
internal sealed class EpochRows(LabelledSet set, Tensor order)
{
    /// <summary>Inputs of positions [start, start + length) of the order.</summary>
    public Tensor Inputs(int start, int length)
    {
        using var indices = order.narrow(0, start, length);
        return set.Inputs.index_select(0, indices);
    }

    /// <summary>Inputs and labels of positions [start, start + length) of the order.</summary>
    public (Tensor Inputs, Tensor Labels) Batch(int start, int length)
    {
        using var indices = order.narrow(0, start, length);
        return (set.Inputs.index_select(0, indices), set.Labels.index_select(0, indices));
    }
}
