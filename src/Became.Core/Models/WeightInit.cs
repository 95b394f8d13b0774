using static TorchSharp.torch;

namespace Became.Core.Models;

/// <summary>PyTorch's default weight initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as a trainable leaf.</summary>
internal static class WeightInit
{
    /// <summary>Draws from <paramref name="generator"/> (a CPU one, drawn on the host and moved), or from the global
    /// torch generator when it is null.</summary>
    public static Tensor Uniform(long[] shape, long fanIn, Device device, Generator? generator)
    {
        double bound = 1.0 / Math.Sqrt(fanIn);
        using var noGrad = no_grad();
        Tensor weight;
        if (generator is null)
        {
            weight = empty(shape, device: device).uniform_(-bound, bound);
        }
        else
        {
            // On the CPU the move is a no-op.
            using var host = empty(shape).uniform_(-bound, bound, generator);
            weight = host.to(device);
        }

        weight.requires_grad_(true);
        return weight.DetachFromDisposeScope();
    }
}
