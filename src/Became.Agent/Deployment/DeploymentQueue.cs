using Became.Agent.Intake;
using Microsoft.Extensions.Logging;

namespace Became.Agent.Deployment;

/// <summary>
/// The one serialized queue of what moves the deployed model, drained by the training worker: learning the next stored
/// task (a job), and the operator's rollbacks and adoptions (<see cref="DeploymentCommand"/>). Nothing else commits a
/// version or moves the pointer, so a version number chosen as a job starts is still the next one when it commits.
/// A command submitted while no job trains runs before the next job starts (and its requester waits for it); one
/// submitted while a job trains is queued behind it (its requester is answered at once), and a later queued command
/// replaces it: the operator's last choice is what serves.
/// </summary>
public sealed class DeploymentQueue(JobSignal signal, DeviceStatus status, ILogger<DeploymentQueue> logger)
{
    private readonly Lock _lock = new();
    private readonly List<DeploymentCommand> _commands = [];
    private bool _jobInFlight;

    /// <summary>Queues <paramref name="command"/>; true when it waits behind the job in flight (its requester should not wait).</summary>
    public bool Submit(DeploymentCommand command)
    {
        lock (_lock)
        {
            command.Queued = _jobInFlight;
            if (command.Queued)
            {
                foreach (var replaced in _commands.Where(c => c.Queued))
                {
                    logger.LogWarning("Queued {Replaced} replaced by {Command}", replaced.Description, command.Description);
                    replaced.Supersede();
                }

                _commands.RemoveAll(c => c.Queued);
                logger.LogWarning("{Command} queued: a job is in flight; it is applied when the job ends", command.Description);
            }

            _commands.Add(command);
        }

        signal.Set();
        return command.Queued;
    }

    /// <summary>Starts a job unless a command waits (it runs first); false then.</summary>
    public bool TryBeginJob()
    {
        lock (_lock)
        {
            if (_commands.Count > 0)
            {
                return false;
            }

            _jobInFlight = true;
            return true;
        }
    }

    /// <summary>The job has ended (committed or not): the commands queued behind it run next.</summary>
    public void EndJob()
    {
        lock (_lock)
        {
            _jobInFlight = false;
        }
    }

    /// <summary>Runs the waiting commands in order; a queued command's failure (its requester has gone) is logged and
    /// shown in the status. Only a shutdown's cancellation escapes.</summary>
    public async Task RunCommandsAsync(CancellationToken cancellationToken)
    {
        while (Take() is { } command)
        {
            await command.RunAsync(cancellationToken).ConfigureAwait(false);
            if (command.Queued && command.Completion.Exception?.InnerException is { } e)
            {
                status.SetError($"queued {command.Description}: {e.Message}");
                logger.LogError(e, "The queued {Command} could not be applied: {Reason}", command.Description, e.Message);
            }
        }
    }

    /// <summary>Fails the commands still waiting as the agent stops (their requesters are cancelled, not left waiting).</summary>
    public void CancelWaiting()
    {
        lock (_lock)
        {
            _commands.ForEach(c => c.Supersede());
            _commands.Clear();
        }
    }

    private DeploymentCommand? Take()
    {
        lock (_lock)
        {
            if (_commands.Count == 0)
            {
                return null;
            }

            var next = _commands[0];
            _commands.RemoveAt(0);
            return next;
        }
    }
}

/// <summary>A move of the deployed model other than a job (rollback, adoption), run by the worker between jobs.</summary>
public abstract class DeploymentCommand
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>What it does, for the log ("rollback to version 3").</summary>
    public abstract string Description { get; }

    /// <summary>Whether it was submitted while a job trained (its requester was answered before it ran).</summary>
    public bool Queued { get; internal set; }

    /// <summary>Completes when it has run (faulted with its failure), or is cancelled when replaced or the agent stops.</summary>
    public Task Completion => _done.Task;

    /// <summary>The command's work, on the worker.</summary>
    protected abstract Task ExecuteAsync(CancellationToken cancellationToken);

    internal async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ExecuteAsync(cancellationToken).ConfigureAwait(false);
            _done.TrySetResult();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _done.TrySetCanceled(cancellationToken);
            throw;
        }
        catch (Exception e)
        {
            _done.TrySetException(e);
        }
    }

    internal void Supersede() => _done.TrySetCanceled();
}
