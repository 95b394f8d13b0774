using Became.Core.Native;
using static TorchSharp.torch;

namespace Became.Core.Tests.Native;

public sealed class TorchRuntimeTests
{
    [Fact]
    public void Exactly_one_LibTorchSharp_is_mapped_after_tensor_maths()
    {
        using var scope = NewDisposeScope();
        var product = ones(4, 3).mm(ones(3, 2));
        Assert.Equal(24f, product.sum().item<float>());
        Assert.Single(TorchRuntime.MappedLibTorchSharpFiles());
    }
}
