namespace Became.Agent.Intake;

/// <summary>Wakes the training worker when a task has been queued.</summary>
/// <param name="time">The clock of the wait's timeout.</param>
public sealed class JobSignal(TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _semaphore = new(0, 1);
    private readonly TimeProvider _time = time;

    public void Set()
    {
        try
        {
            _semaphore.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: the worker checks the whole queue when it wakes.
        }
    }

    /// <summary>True when signalled, false when <paramref name="timeout"/> (on the injected clock) passed first.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        // A cancelled semaphore wait leaves no waiter behind, so a later Set is not swallowed by a timed-out wait.
        using var timer = new CancellationTokenSource(timeout, _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            await _semaphore.WaitAsync(either.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public void Dispose() => _semaphore.Dispose();
}
