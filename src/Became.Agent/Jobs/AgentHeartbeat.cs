namespace Became.Agent.Jobs;

/// <summary>When the training worker last showed it was alive (its loop turned or an epoch finished).</summary>
public sealed class AgentHeartbeat(TimeProvider time)
{
    private readonly TimeProvider _time = time;

    // Ticks of a DateTimeOffset in UTC, read and written atomically: the training thread beats, the watchdog reads.
    private long _lastBeatTicks = time.GetUtcNow().UtcTicks;

    /// <summary>The last beat; the construction time until the first one, so start-up gets a full interval.</summary>
    public DateTimeOffset LastBeat => new(Interlocked.Read(ref _lastBeatTicks), TimeSpan.Zero);

    public void Beat() => Interlocked.Exchange(ref _lastBeatTicks, _time.GetUtcNow().UtcTicks);

    /// <summary>Whether the last beat is no older than <paramref name="within"/>.</summary>
    public bool IsFresh(TimeSpan within) => _time.GetUtcNow() - LastBeat <= within;
}
