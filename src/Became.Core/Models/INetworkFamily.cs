using static TorchSharp.torch;

namespace Became.Core.Models;

/// <summary>The paper's GPM settings for a network family, used unless the operator gives others.</summary>
/// <param name="Thresholds">Energy threshold per shared layer (or one for all).</param>
/// <param name="ThresholdIncrement">Added to every threshold per task.</param>
/// <param name="LayerSamples">Samples per layer's representation matrix, or null for one count everywhere.</param>
public sealed record MemoryDefaults(IReadOnlyList<double> Thresholds, double ThresholdIncrement, IReadOnlyList<int>? LayerSamples);

/// <summary>One network architecture: how its spec text reads, how it is built for an input shape, what it needs
/// and what it allows. <see cref="NetworkFamilies"/> lists them; nothing else knows an architecture by name.</summary>
public interface INetworkFamily
{
    /// <summary>The family's name, the spec text's first part (e.g. <c>mlp</c>).</summary>
    string Name { get; }

    /// <summary>The spec syntax for messages, e.g. <c>alexnet[:W]</c>.</summary>
    string Syntax { get; }

    /// <summary>What its networks allow the learner (see <see cref="NetworkCapabilities"/>).</summary>
    NetworkCapabilities Capabilities { get; }

    /// <summary>The paper's GPM defaults for this family.</summary>
    MemoryDefaults MemoryDefaults { get; }

    /// <summary>True when the network reads its inputs as images [channels, height, width] rather than flat vectors.</summary>
    bool TakesImages { get; }

    /// <summary>The spec for <paramref name="argument"/> (the text after ':', or null when there is none);
    /// throws <see cref="ArgumentException"/> naming <paramref name="text"/> when it does not read.</summary>
    ModelSpec Parse(string text, string? argument, IReadOnlyList<int> hiddenSizes);

    /// <summary>The spec's short name, what <see cref="Parse"/> reads back.</summary>
    string NameOf(ModelSpec spec);

    /// <summary>Shared layers the memory keeps a basis for.</summary>
    int SharedLayerCount(ModelSpec spec);

    /// <summary>Null when the network can take inputs of <paramref name="inputShape"/>, else one line saying why not.</summary>
    string? CheckInputShape(IReadOnlyList<long> inputShape);

    /// <summary>Builds the network for <paramref name="inputShape"/> (checked by <see cref="CheckInputShape"/>).</summary>
    IContinualNetwork Create(ModelSpec spec, IReadOnlyList<long> inputShape, Device? device, long? seed);
}
