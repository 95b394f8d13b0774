namespace Became.Protocol;

/// <summary>
/// The values a float input may take, for tasks and inference alike. Inputs are pixels scaled to [0, 1]; a little
/// beyond is harmless (rounding, resampling overshoot), far beyond is a client's mistake (0-255 values sent as floats)
/// and, at the extreme, overflows the normalisation to infinity, so the model could only learn or answer NaN.
/// </summary>
public static class InputRange
{
    /// <summary>How far outside [0, 1] a value may lie.</summary>
    public const float Tolerance = 0.5f;

    public const float Min = -Tolerance;

    public const float Max = 1 + Tolerance;

    /// <summary>True for a finite value within [<see cref="Min"/>, <see cref="Max"/>].</summary>
    public static bool Contains(float value) => value >= Min && value <= Max;

    /// <summary>The advice given with a refusal.</summary>
    public const string Advice = "values outside [-0.5, 1.5] are refused; divide 0-255 values by 255, or send uint8";
}
