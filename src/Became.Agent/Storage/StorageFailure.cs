namespace Became.Agent.Storage;

/// <summary>Sorts failures by what the store can say about them, so no caller needs to know LiteDB's exceptions.</summary>
public static class StorageFailure
{
    /// <summary>Transient ones (I/O errors such as a full disk) keep a task queued for a retry; the rest (divergence, a
    /// corrupt or missing payload, a bug) mark it failed, since retrying would fail the same way.</summary>
    public static bool IsTransient(Exception e) =>
        e is IOException and not FileNotFoundException and not DirectoryNotFoundException and not EndOfStreamException
        || e is LiteDB.LiteException { InnerException: IOException };

    /// <summary>Whether storing failed for a reason outside the data (disk, permissions, the database file).</summary>
    public static bool IsStoreError(Exception e) => e is IOException or UnauthorizedAccessException or LiteDB.LiteException;
}
