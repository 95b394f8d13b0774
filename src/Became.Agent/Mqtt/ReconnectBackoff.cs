namespace Became.Agent.Mqtt;

/// <summary>Exponential reconnection delays with jitter, so devices that lost the same broker do not return in lockstep.</summary>
internal static class ReconnectBackoff
{
    /// <summary>Delay after <paramref name="failures"/> consecutive failed attempts (1 = the first failure).</summary>
    public static TimeSpan Delay(int failures, TimeSpan min, TimeSpan max, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(failures, 1);
        ArgumentNullException.ThrowIfNull(random);

        // Capping the exponent keeps the power finite; the max clamps long before that.
        var ceiling = Math.Min(max.TotalSeconds, min.TotalSeconds * Math.Pow(2, Math.Min(failures - 1, 30)));

        // "Equal jitter": half the ceiling is guaranteed, so the delay still grows, the other half is random.
        var seconds = (ceiling / 2) + (random.NextDouble() * ceiling / 2);
        return TimeSpan.FromSeconds(Math.Clamp(seconds, min.TotalSeconds, max.TotalSeconds));
    }
}
