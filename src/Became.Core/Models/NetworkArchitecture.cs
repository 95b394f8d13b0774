using System.Text.Json;
using System.Text.Json.Serialization;

namespace Became.Core.Models;

/// <summary>A network's description for its model file's <c>architecture</c> metadata (read by the Python example):
/// each network describes itself, so its layer geometry is written down once, in the network.</summary>
public abstract record NetworkArchitecture
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The metadata's JSON: camelCase keys, <c>kind</c> first, then the record's properties in order.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, GetType(), Json);
}

/// <summary>The multi-head MLP: bias-free linear layers with ReLU and one linear head per task.</summary>
/// <param name="InputShape">The input shape the network was built for (its product is the first layer's width).</param>
/// <param name="HiddenSizes">Widths of the hidden layers.</param>
/// <param name="Heads">Class count of each head.</param>
public sealed record MlpArchitecture(IReadOnlyList<long> InputShape, IReadOnlyList<int> HiddenSizes, IReadOnlyList<int> Heads)
    : NetworkArchitecture
{
    [JsonPropertyOrder(-1)]
    public string Kind => "mlp";

    [JsonPropertyOrder(1)]
    public string Activation => "relu";

    [JsonPropertyOrder(2)]
    public bool Bias => false;

    [JsonPropertyOrder(3)]
    public IReadOnlyList<int> Heads { get; init; } = Heads;
}

/// <summary>The paper's AlexNet: three bias-free convolutions and two bias-free linear layers, each with batch norm
/// (batch statistics) and ReLU, and one linear head per task.</summary>
/// <param name="InputShape">The input shape the network was built for: [channels, height, width] or [height, width].</param>
/// <param name="WidthMultiplier">Scale of every width (1 = the paper's).</param>
/// <param name="Channels">Output channels of the three convolutions.</param>
/// <param name="Kernels">Kernel side of the three convolutions.</param>
/// <param name="HiddenSize">Width of fc1 and fc2.</param>
/// <param name="BatchNorm">How batch norm normalises, with its eps.</param>
/// <param name="Heads">Class count of each head.</param>
public sealed record AlexNetArchitecture(
    IReadOnlyList<long> InputShape,
    double WidthMultiplier,
    IReadOnlyList<int> Channels,
    IReadOnlyList<int> Kernels,
    int HiddenSize,
    string BatchNorm,
    IReadOnlyList<int> Heads) : NetworkArchitecture
{
    [JsonPropertyOrder(-1)]
    public string Kind => "alexnet";

    [JsonPropertyOrder(1)]
    public string Activation => "relu";

    [JsonPropertyOrder(2)]
    public bool Bias => false;

    [JsonPropertyOrder(3)]
    public string BatchNorm { get; init; } = BatchNorm;

    [JsonPropertyOrder(4)]
    public IReadOnlyList<int> Heads { get; init; } = Heads;
}

/// <summary>A ResNet-18 (<c>resnet18</c>: GPM's reduced one; <c>preact-resnet18</c>: Adam-NSCL's pre-activation one):
/// conv1, four stages of residual blocks and one linear head per task.</summary>
/// <param name="Kind">Which of the two.</param>
/// <param name="InputShape">The input shape the network was built for: [channels, height, width] or [height, width].</param>
/// <param name="WidthMultiplier">Scale of every width (1 = the paper's).</param>
/// <param name="Widths">Channels of the four stages (conv1 has the first's).</param>
/// <param name="Blocks">Residual blocks per stage.</param>
/// <param name="FirstStride">conv1's stride.</param>
/// <param name="BatchNorm">How batch norm normalises, with its eps.</param>
/// <param name="HeadBias">Whether the heads have a bias.</param>
/// <param name="Heads">Class count of each head.</param>
public sealed record ResidualArchitecture(
    [property: JsonPropertyOrder(-1)] string Kind,
    IReadOnlyList<long> InputShape,
    double WidthMultiplier,
    IReadOnlyList<int> Widths,
    IReadOnlyList<int> Blocks,
    int FirstStride,
    string BatchNorm,
    bool HeadBias,
    IReadOnlyList<int> Heads) : NetworkArchitecture
{
    [JsonPropertyOrder(1)]
    public string Activation => "relu";

    [JsonPropertyOrder(2)]
    public bool Bias => false;

    [JsonPropertyOrder(3)]
    public string BatchNorm { get; init; } = BatchNorm;

    [JsonPropertyOrder(4)]
    public bool HeadBias { get; init; } = HeadBias;

    [JsonPropertyOrder(5)]
    public IReadOnlyList<int> Heads { get; init; } = Heads;
}
