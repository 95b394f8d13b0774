namespace Became.Protocol;

/// <summary>What a task payload must match: the model's features per sample, and size caps checked before any work.</summary>
public sealed record TaskPayloadLimits(int Features, long MaxPayloadBytes = 64L * 1024 * 1024, int MaxSamples = 200_000);
