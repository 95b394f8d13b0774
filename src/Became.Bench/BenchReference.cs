namespace Became.Bench;

/// <summary>A method's reference figures (e.g. the authors' published ones) to show beside ours.</summary>
/// <param name="AccMean">Reference mean ACC, percent.</param>
/// <param name="BwtMean">Reference mean BWT, percent.</param>
/// <param name="SecondsMean">Reference seconds per run, or null when not published.</param>
public sealed record BenchReference(double AccMean, double BwtMean, double? SecondsMean = null);
