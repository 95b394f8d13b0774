namespace Became.Core.TaskAgnostic;

/// <summary>
/// What the class statistics for answers without a task id are taken of: <c>body</c>, the body's features (what the
/// heads read), or <c>input[:M]</c>, a fixed random ReLU expansion of the raw input to M features (default 2,000;
/// regenerated from a seed, never trained, so it does not drift when later tasks change the body, as RanPAC's random
/// projection does). Measured on split-fmnist: the expansion is the only choice that reaches 85 % there.
/// </summary>
/// <param name="ExpansionWidth">M, or 0 for the body's features.</param>
public sealed record TaskFeatures(int ExpansionWidth)
{
    /// <summary>M when <c>input</c> names no width.</summary>
    public const int DefaultExpansion = 2000;

    /// <summary>The largest M accepted: the pooled scatter is M² float64 (2,000: 32 MB; 8,192: 512 MB).</summary>
    public const int MaxExpansion = 8192;

    public static TaskFeatures Body { get; } = new(0);

    public string Name => ExpansionWidth == 0 ? "body" : $"input:{ExpansionWidth}";

    /// <summary>Parses <c>body</c>, <c>input</c> or <c>input:M</c>; throws <see cref="FormatException"/> with the accepted forms.</summary>
    public static TaskFeatures Parse(string text) => TryParse(text, out var problem) ?? throw new FormatException(problem);

    /// <summary>Parses like <see cref="Parse"/>, or returns null with the problem in one line.</summary>
    public static TaskFeatures? TryParse(string? text, out string? problem)
    {
        string value = (text ?? string.Empty).Trim().ToLowerInvariant();
        problem = null;
        if (value == "body")
        {
            return Body;
        }

        if (value == "input")
        {
            return new TaskFeatures(DefaultExpansion);
        }

        if (value.StartsWith("input:", StringComparison.Ordinal)
            && int.TryParse(value["input:".Length..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int width)
            && width is >= 1 and <= MaxExpansion)
        {
            return new TaskFeatures(width);
        }

        problem = $"'{text}' is not body, input or input:M (M from 1 to {MaxExpansion}).";
        return null;
    }
}
