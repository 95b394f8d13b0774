using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.Tests.Data;
using static TorchSharp.torch;

namespace Became.Core.Tests.Conv;

/// <summary>The representation matrix of a convolution: every patch its kernel sees, as a column.</summary>
[Collection(FashionMnistCollection.Name)]
public sealed class ConvRepresentationTests(FashionMnistFixture data)
{
    [Theory]
    [InlineData(3, 1, 0)]
    [InlineData(2, 2, 1)]
    public void Unfold_representation_equals_direct_patch_extraction(int k, int stride, int padding)
    {
        // Two real Fashion-MNIST images cropped to 5 x 6, stacked with their square as a second channel so
        // channels differ; the direct loop walks samples, then rows, then columns, as the reference does.
        using var scope = NewDisposeScope();
        var images = data.Split.Tasks[0].Train.Inputs.narrow(0, 0, 2).reshape(2, 1, 28, 28).narrow(2, 10, 5).narrow(3, 11, 6);
        var input = cat([images, images.square()], 1).contiguous();
        var kernel = new ConvKernel(k, stride, padding);

        var matrix = ConvRepresentation.Patches(input, kernel);

        var padded = nn.functional.pad(input, [padding, padding, padding, padding]);
        long outH = (5 + 2 * padding - k) / stride + 1, outW = (6 + 2 * padding - k) / stride + 1;
        var columns = new List<Tensor>();
        for (long n = 0; n < 2; n++)
        {
            for (long i = 0; i < outH; i++)
            {
                for (long j = 0; j < outW; j++)
                {
                    columns.Add(padded[n].narrow(1, i * stride, k).narrow(2, j * stride, k).reshape(-1));
                }
            }
        }

        var direct = stack(columns, 1);
        Assert.Equal(direct.shape, matrix.shape);
        Assert.Equal(0.0, (matrix - direct).abs().max().item<float>());
    }

    [Fact]
    public void A_linear_layers_representation_is_its_inputs_as_columns()
    {
        using var scope = NewDisposeScope();
        var inputs = data.Split.Tasks[0].Train.Inputs.narrow(0, 0, 4);
        using var weight = zeros(3, 784);

        var matrix = ConvRepresentation.Of(new SharedLayer(0, "shared.0.weight", weight), inputs);

        Assert.Equal(0.0, (matrix - inputs.t()).abs().max().item<float>());
    }
}
