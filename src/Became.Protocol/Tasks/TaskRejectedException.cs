namespace Became.Protocol;

/// <summary>A task payload the agent refuses: a short machine code in <see cref="Reason"/> and a human message.</summary>
public sealed class TaskRejectedException : Exception
{
    public TaskRejectedException(string reason, string message)
        : base(message)
    {
        Reason = reason;
    }

    public TaskRejectedException(string reason, string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>One of the task codes of <see cref="ErrorCodes"/>.</summary>
    public string Reason { get; }
}
