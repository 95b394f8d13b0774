namespace Became.Testing;

/// <summary>Damages files on disk the way a bad sector or an interrupted copy would.</summary>
internal static class FileDamage
{
    /// <summary>Inverts one byte in the middle of the file.</summary>
    public static void Flip(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Cuts the file to half its length.</summary>
    public static void Truncate(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.SetLength(stream.Length / 2);
    }

    public static void Apply(string damage, string path)
    {
        switch (damage)
        {
            case "flipped": Flip(path); break;
            case "truncated": Truncate(path); break;
            case "deleted": File.Delete(path); break;
            default: throw new ArgumentOutOfRangeException(nameof(damage), damage, "flipped, truncated or deleted");
        }
    }
}
