namespace Became.Protocol;

/// <summary>Which task ids are accepted: they end up in file names and topics, so only a safe, short alphabet.</summary>
public static class TaskIdRules
{
    /// <summary>Longest accepted id.</summary>
    public const int MaxLength = 128;

    /// <summary>True for 1–128 characters of [A-Za-z0-9._-] not starting with '.' and without '..'; otherwise false and why.</summary>
    public static bool IsValid(string id, out string reason)
    {
        reason = Check(id) ?? "";
        return reason.Length == 0;
    }

    private static string? Check(string? id)
    {
        if (string.IsNullOrEmpty(id))
        {
            return "task id is empty";
        }

        if (id.Length > MaxLength)
        {
            return $"task id is {id.Length} characters; at most {MaxLength} are allowed";
        }

        for (var i = 0; i < id.Length; i++)
        {
            var c = id[i];
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return $"task id has '{c}' (U+{(int)c:X4}) at index {i}; only letters, digits, '.', '_' and '-' are allowed";
            }
        }

        if (id is "." or "..")
        {
            return $"task id '{id}' is reserved (it names a directory)";
        }

        // Leading dots would make hidden files, and ".." anywhere looks like path traversal to any tool that
        // turns ids into paths (logs, exports): refuse both rather than reason about each use.
        if (id[0] == '.')
        {
            return "task id starts with '.'";
        }

        return id.Contains("..", StringComparison.Ordinal) ? "task id contains '..'" : null;
    }
}
