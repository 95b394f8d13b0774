using System.Globalization;

namespace Became.Agent.Storage;

/// <summary>A second agent on a data directory that another process holds (one agent per data directory).</summary>
public sealed class DataDirectoryLockedException : IOException
{
    public DataDirectoryLockedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The message only: this is a user's mistake, not a fault to debug, so logs get no stack trace.</summary>
    public override string ToString() => $"{GetType().FullName}: {Message}";
}

/// <summary>
/// The exclusive claim of one process on a data directory: the file <c>became.lock</c> held open with
/// <see cref="FileShare.None"/> (on Linux an advisory <c>flock(LOCK_EX | LOCK_NB)</c>, released by the kernel when the
/// process dies, so a crash leaves no stale lock). The owner's process id is in <c>became.pid</c>, for the message of the next one.
/// </summary>
public sealed class DataDirectoryLock : IDisposable
{
    /// <summary>The lock file's name inside the data directory.</summary>
    public const string FileName = "became.lock";

    /// <summary>The file with the holder's process id (for messages only).</summary>
    public const string PidFileName = "became.pid";

    private readonly FileStream _file;

    private DataDirectoryLock(FileStream file)
    {
        _file = file;
    }

    /// <summary>Takes the lock, creating the directory if needed; throws <see cref="DataDirectoryLockedException"/>
    /// at once (no waiting) when another process holds it.</summary>
    public static DataDirectoryLock Acquire(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        string path = Path.Combine(dataDirectory, FileName);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not (FileNotFoundException or DirectoryNotFoundException or PathTooLongException))
        {
            string holder = ReadHolder(dataDirectory) is int pid ? $"process {pid}" : "another process";
            throw new DataDirectoryLockedException(
                $"the data directory {Path.GetFullPath(dataDirectory)} is in use by {holder} (another became run?); one agent per data directory: stop it, or give this one its own --data-dir",
                e);
        }

        try
        {
            // The holder's pid, for the message the next process gives. A file of its own: .NET reads the lock file only
            // after a flock of its own, which the holder's exclusive one refuses.
            File.WriteAllText(Path.Combine(dataDirectory, PidFileName), Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The pid is a courtesy; a full disk must not stop the agent from holding its directory.
        }

        return new DataDirectoryLock(file);
    }

    /// <summary>Releases the lock (the file stays: deleting it would let a third process lock a different file).</summary>
    public void Dispose() => _file.Dispose();

    private static int? ReadHolder(string dataDirectory)
    {
        try
        {
            string text = File.ReadAllText(Path.Combine(dataDirectory, PidFileName)).Trim();
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid) && Directory.Exists($"/proc/{pid}") ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
