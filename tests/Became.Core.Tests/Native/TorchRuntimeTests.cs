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

    [Fact]
    public void Load_failure_of_an_l4t_build_says_where_libtorch_and_LibTorchSharp_must_be()
    {
        var failure = new DllNotFoundException("Unable to load shared library 'libLibTorchSharp.so'\nmore detail");
        Assert.True(TorchRuntime.IsLoadFailure(failure));

        string message = TorchRuntime.DescribeLoadFailure(failure, "l4t");

        Assert.StartsWith("libtorch could not be loaded (", message, StringComparison.Ordinal);
        Assert.EndsWith("): Unable to load shared library 'libLibTorchSharp.so' more detail", message, StringComparison.Ordinal);
        Assert.Contains("LD_LIBRARY_PATH", message, StringComparison.Ordinal);
        Assert.Contains("libLibTorchSharp.so built on the device", message, StringComparison.Ordinal);
        Assert.Contains("TorchBackend=cpu", TorchRuntime.DescribeLoadFailure(failure, "cpu"), StringComparison.Ordinal);
    }
}
