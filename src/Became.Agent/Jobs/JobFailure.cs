namespace Became.Agent.Jobs;

/// <summary>Sorts job failures: transient ones (I/O errors such as a full disk) keep the task queued for a retry;
/// the rest (divergence, a corrupt or missing payload, a bug) mark it failed, since retrying would fail the same way.</summary>
public static class JobFailure
{
    public static bool IsTransient(Exception e) =>
        e is IOException and not FileNotFoundException and not DirectoryNotFoundException and not EndOfStreamException
        || e is LiteDB.LiteException { InnerException: IOException };
}
