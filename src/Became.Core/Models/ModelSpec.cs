using System.Globalization;

namespace Became.Core.Models;

/// <summary>The network families a learner can be built on.</summary>
public enum Architecture
{
    /// <summary><see cref="MultiHeadMlp"/>.</summary>
    Mlp,

    /// <summary><see cref="Models.AlexNet"/>.</summary>
    AlexNet,
}

/// <summary>Which network to build: <c>mlp</c> with hidden widths, or <c>alexnet[:width]</c> with a width multiplier.</summary>
/// <param name="Architecture">The family.</param>
/// <param name="HiddenSizes">The MLP's hidden widths (ignored by AlexNet).</param>
/// <param name="Width">AlexNet's width multiplier (1 = the paper's 64/128/256/2048).</param>
public sealed record ModelSpec(Architecture Architecture, IReadOnlyList<int> HiddenSizes, double Width = 1.0)
{
    /// <summary>The reference's multi-head MLP widths.</summary>
    public static IReadOnlyList<int> DefaultHidden => ReferenceProtocol.Mlp.HiddenSizes;

    /// <summary>Samples per representation matrix in the reference's AlexNet GPM (conv1..3, fc1, fc2).</summary>
    public static IReadOnlyList<int> AlexNetMemorySamples => ReferenceProtocol.AlexNet.LayerSamples;

    /// <summary>An MLP spec.</summary>
    public static ModelSpec Mlp(IReadOnlyList<int> hiddenSizes) => new(Architecture.Mlp, hiddenSizes);

    /// <summary>The short name, e.g. <c>mlp</c> or <c>alexnet:0.25</c> (what <see cref="Parse"/> reads).</summary>
    public string Name => Architecture == Architecture.Mlp
        ? "mlp"
        : Width == 1.0 ? "alexnet" : "alexnet:" + Width.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Reads <c>mlp</c>, <c>alexnet</c> or <c>alexnet:W</c> (W a positive width multiplier).</summary>
    public static ModelSpec Parse(string text, IReadOnlyList<int>? hiddenSizes = null)
    {
        var parts = text.Trim().Split(':', 2);
        string family = parts[0].ToLowerInvariant();
        if (family == "mlp" && parts.Length == 1)
        {
            return Mlp(hiddenSizes ?? DefaultHidden);
        }

        if (family == "alexnet")
        {
            double width = 1.0;
            if (parts.Length == 2 && !(double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out width) && width > 0 && double.IsFinite(width)))
            {
                throw new ArgumentException($"'{text}': the AlexNet width multiplier must be a positive number, e.g. alexnet:0.25.");
            }

            return new ModelSpec(Architecture.AlexNet, hiddenSizes ?? DefaultHidden, width);
        }

        throw new ArgumentException($"Unknown model '{text}'. Use mlp or alexnet[:width].");
    }

    /// <summary>Builds the network for inputs of <paramref name="inputShape"/>: the MLP takes their product;
    /// AlexNet needs an image, [channels, height, width] or [height, width] (one channel). With a
    /// <paramref name="seed"/> the network draws its weights from a generator of its own.</summary>
    public IContinualNetwork Create(IReadOnlyList<long> inputShape, TorchSharp.torch.Device? device = null, long? seed = null)
    {
        if (inputShape.Count == 0 || inputShape.Any(d => d < 1))
        {
            throw new ArgumentException("The input shape needs positive dimensions.", nameof(inputShape));
        }

        if (Architecture == Architecture.Mlp)
        {
            return new MultiHeadMlp(checked((int)inputShape.Aggregate(1L, (a, b) => a * b)), HiddenSizes, device, seed) { InputShape = inputShape };
        }

        return inputShape.Count switch
        {
            3 => new AlexNet((int)inputShape[0], (int)inputShape[1], (int)inputShape[2], Width, device, seed) { InputShape = inputShape },
            2 => new AlexNet(1, (int)inputShape[0], (int)inputShape[1], Width, device, seed) { InputShape = inputShape },
            _ => throw new ArgumentException($"AlexNet needs an image input shape [channels, height, width] or [height, width]; got [{string.Join(", ", inputShape)}]."),
        };
    }
}
