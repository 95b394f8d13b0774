namespace Became.Protocol;

/// <summary>
/// A validated task: <see cref="Inputs"/> holds <see cref="Count"/> × <see cref="Features"/> raw values in sample order
/// (uint8 payloads as 0..255 floats, float32 as given), <see cref="Labels"/> one label per sample, each below <see cref="Classes"/>.
/// </summary>
public sealed record DecodedTask(
    string? Name,
    int Classes,
    double TestFraction,
    int Count,
    int Features,
    float[] Inputs,
    bool InputsAreBytes,
    long[] Labels)
{
    /// <summary>Most samples a task keeps for testing, whatever its test fraction.</summary>
    public const int MaxTestSamples = 2_000;

    /// <summary>Samples to hold out for testing: floor(<see cref="Count"/> × <see cref="TestFraction"/>), at most <see cref="MaxTestSamples"/>.</summary>
    public int TestCount => TestCountOf(Count, TestFraction);

    /// <summary>Samples held out of <paramref name="count"/> at <paramref name="testFraction"/>: the one rule intake, split and gate share.</summary>
    public static int TestCountOf(int count, double testFraction) => (int)Math.Min(MaxTestSamples, Math.Floor(count * testFraction));
}
