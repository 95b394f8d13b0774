using static TorchSharp.torch;

namespace Became.Core.Tests.Data;

/// <summary>Exact tensor comparison for tests.</summary>
internal static class TensorAssert
{
    public static bool Same(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();
    }
}
