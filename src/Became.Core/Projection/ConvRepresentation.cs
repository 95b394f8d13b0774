using Became.Core.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Projection;

/// <summary>
/// A shared layer's representation matrix: its inputs as columns. For a linear layer the input vectors
/// (in x n); for a convolution every patch the kernel sees (in*k*k x n*positions, columns sample by sample,
/// positions row-major), flattened in the order of the kernel's flattening (channel, row, column), so a
/// basis of these columns is a basis for the flattened kernel gradient's rows.
/// </summary>
public static class ConvRepresentation
{
    /// <summary>The representation matrix of <paramref name="layer"/> from its captured input ([n, in] or [n, c, h, w]).</summary>
    public static Tensor Of(SharedLayer layer, Tensor input) =>
        layer.Kernel is null ? input.t() : Patches(input, layer.Kernel);

    /// <summary>Every k x k x c patch of <paramref name="input"/> [n, c, h, w] as a column: [c*k*k, n*positions].</summary>
    public static Tensor Patches(Tensor input, ConvKernel kernel)
    {
        if (input.dim() != 4)
        {
            throw new ArgumentException($"A convolution's input is [n, c, h, w]; got {input.dim()} dimensions.", nameof(input));
        }

        // unfold gives [n, c*k*k, positions]; putting the samples next to the positions makes the columns.
        using var unfolded = F.unfold(input, kernel.Size, dilation: 1, padding: kernel.Padding, stride: kernel.Stride);
        using var ordered = unfolded.permute(1, 0, 2);
        return ordered.reshape(unfolded.shape[1], -1);
    }
}
