namespace Became.Core.Models;

/// <summary>Which network to build: a family of <see cref="NetworkFamilies"/> with its arguments (the MLP's hidden
/// widths, AlexNet's width multiplier); every question about it goes to its family.</summary>
/// <param name="Family">The family.</param>
/// <param name="HiddenSizes">The MLP's hidden widths (ignored by AlexNet).</param>
/// <param name="Width">AlexNet's width multiplier (1 = the paper's 64/128/256/2048).</param>
public sealed record ModelSpec(INetworkFamily Family, IReadOnlyList<int> HiddenSizes, double Width = 1.0)
{
    /// <summary>The reference's multi-head MLP widths.</summary>
    public static IReadOnlyList<int> DefaultHidden => ReferenceProtocol.Mlp.HiddenSizes;

    /// <summary>An MLP spec.</summary>
    public static ModelSpec Mlp(IReadOnlyList<int> hiddenSizes) => new(NetworkFamilies.Mlp, hiddenSizes);

    /// <summary>The short name, e.g. <c>mlp</c> or <c>alexnet:0.25</c> (what <see cref="Parse"/> reads).</summary>
    public string Name => Family.NameOf(this);

    /// <summary>Shared layers the memory keeps a basis for.</summary>
    public int SharedLayerCount => Family.SharedLayerCount(this);

    /// <summary>Reads <c>mlp</c>, <c>alexnet</c> or <c>alexnet:W</c> (W a positive width multiplier).</summary>
    public static ModelSpec Parse(string text, IReadOnlyList<int>? hiddenSizes = null) => NetworkFamilies.Parse(text, hiddenSizes);

    /// <summary>Builds the network for inputs of <paramref name="inputShape"/>: the MLP takes their product;
    /// AlexNet needs an image, [channels, height, width] or [height, width] (one channel). With a
    /// <paramref name="seed"/> the network draws its weights from a generator of its own.</summary>
    public IContinualNetwork Create(IReadOnlyList<long> inputShape, TorchSharp.torch.Device? device = null, long? seed = null) =>
        Family.CheckInputShape(inputShape) is { } problem
            ? throw new ArgumentException(problem, nameof(inputShape))
            : Family.Create(this, inputShape, device, seed);
}
