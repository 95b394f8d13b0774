using Became.Agent.Configuration;
using Became.Agent.Storage;
using Microsoft.Extensions.Options;

namespace Became.Agent.Jobs;

/// <summary>
/// When a task that failed transiently may be tried again. Kept in memory as well as in the store: on a full disk
/// recording it in LiteDB may fail too. Used by the job loop's one logical thread, but locked so status readers and
/// tests may look at it from anywhere.
/// </summary>
public sealed class RetrySchedule(IOptions<AgentOptions> options, TimeProvider time)
{
    private readonly JobOptions _jobs = options.Value.Jobs;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (int Attempts, DateTime RetryAt)> _retries = [];

    /// <summary>How long <paramref name="task"/> must still wait; zero or less when it may run now.</summary>
    public TimeSpan Wait(TaskRecord task)
    {
        DateTime? retryAt;
        lock (_gate)
        {
            retryAt = _retries.TryGetValue(task.Id, out var retry) ? retry.RetryAt : task.RetryAt;
        }

        return retryAt is DateTime at ? at - time.GetUtcNow().UtcDateTime : TimeSpan.Zero;
    }

    /// <summary>Records one more failed attempt of <paramref name="task"/>: its number, the backoff and when it ends.</summary>
    public (int Attempt, TimeSpan Delay, DateTime RetryAt) Failed(TaskRecord task)
    {
        lock (_gate)
        {
            int attempt = Math.Max(task.Attempts, _retries.GetValueOrDefault(task.Id).Attempts) + 1;
            var delay = _jobs.RetryDelay(attempt);
            var retryAt = time.GetUtcNow().UtcDateTime + delay;
            _retries[task.Id] = (attempt, retryAt);
            return (attempt, delay, retryAt);
        }
    }

    /// <summary>Forgets the task's backoff (it was committed, or failed for good).</summary>
    public void Clear(string taskId)
    {
        lock (_gate)
        {
            _retries.Remove(taskId);
        }
    }
}
