using System.Buffers.Binary;
using System.Text;

namespace Became.Core.Native;

/// <summary>One entry of an ELF object's version-needed table (<c>.gnu.version_r</c>).</summary>
/// <param name="File">The library that must provide the version, e.g. <c>libstdc++.so.6</c>.</param>
/// <param name="Version">The version name, e.g. <c>GLIBCXX_3.4.32</c>.</param>
/// <param name="Flags">The entry's <c>vna_flags</c>; bit 0x2 (<c>VER_FLG_WEAK</c>) makes it optional.</param>
/// <param name="Index">The version index symbols refer to through <c>.gnu.version</c>.</param>
/// <param name="FlagsOffset">File offset of the two-byte <c>vna_flags</c> field.</param>
public sealed record ElfVersionNeed(string File, string Version, ushort Flags, ushort Index, long FlagsOffset)
{
    /// <summary>The GNU flag that turns a missing version from a load error into a silent miss.</summary>
    public const ushort WeakFlag = 0x2;

    public bool IsWeak => (Flags & WeakFlag) != 0;
}

/// <summary>A minimal read-only view of a 64-bit little-endian ELF shared object: the parts the dynamic
/// loader checks for symbol versions.</summary>
public sealed class ElfImage
{
    private const uint ShtDynsym = 11;
    private const uint ShtDynamic = 6;
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const uint ShtGnuVersym = 0x6fffffff;
    private const long DtNeeded = 1;

    private readonly byte[] _bytes;
    private readonly List<Section> _sections;

    private ElfImage(byte[] bytes, string description)
    {
        _bytes = bytes;
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
        {
            throw new InvalidDataException($"{description} is not an ELF file.");
        }

        if (bytes[4] != 2 || bytes[5] != 1)
        {
            throw new InvalidDataException($"{description} is not a 64-bit little-endian ELF file.");
        }

        long shoff = ReadInt64(0x28);
        int shentsize = ReadUInt16(0x3A);
        int shnum = ReadUInt16(0x3C);
        if (shoff <= 0 || shentsize < 64 || shoff + (long)shentsize * shnum > bytes.Length)
        {
            throw new InvalidDataException($"{description} has no readable section headers.");
        }

        _sections = new List<Section>(shnum);
        for (int i = 0; i < shnum; i++)
        {
            long h = shoff + (long)i * shentsize;
            var section = new Section(ReadUInt32(h + 4), ReadInt64(h + 0x18), ReadInt64(h + 0x20), (int)ReadUInt32(h + 0x28));
            if (section.Type != 8 /* SHT_NOBITS */ && section.Offset + section.Size > bytes.Length)
            {
                throw new InvalidDataException($"{description}: section {i} points outside the file.");
            }

            _sections.Add(section);
        }

        VersionNeeds = ReadVersionNeeds();
        VersionDefinitions = ReadVersionDefinitions();
        Needed = ReadNeeded();
    }

    /// <summary>Every version this object needs from other libraries.</summary>
    public IReadOnlyList<ElfVersionNeed> VersionNeeds { get; }

    /// <summary>Every version name this object defines (what it offers to others).</summary>
    public IReadOnlyList<string> VersionDefinitions { get; }

    /// <summary>The DT_NEEDED library names, in order.</summary>
    public IReadOnlyList<string> Needed { get; }

    public static ElfImage Read(string path) => new(File.ReadAllBytes(path), path);

    public static ElfImage Parse(byte[] bytes, string description = "image") => new(bytes, description);

    /// <summary>Names of the dynamic symbols bound to the given version index.</summary>
    public IReadOnlyList<string> SymbolsWithVersion(ushort versionIndex)
    {
        var dynsym = _sections.FirstOrDefault(s => s.Type == ShtDynsym);
        var versym = _sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
        if (dynsym is null || versym is null)
        {
            return [];
        }

        var names = new List<string>();
        long count = dynsym.Size / 24;
        for (long i = 0; i < count && i * 2 + 2 <= versym.Size; i++)
        {
            int index = ReadUInt16(versym.Offset + i * 2) & 0x7fff;
            if (index == versionIndex)
            {
                names.Add(ReadString(_sections[dynsym.Link], ReadUInt32(dynsym.Offset + i * 24)));
            }
        }

        return names;
    }

    private List<ElfVersionNeed> ReadVersionNeeds()
    {
        var result = new List<ElfVersionNeed>();
        foreach (var section in _sections.Where(s => s.Type == ShtGnuVerneed))
        {
            var strings = _sections[section.Link];
            long entry = section.Offset;
            for (int guard = 0; guard < 1024; guard++)
            {
                int count = ReadUInt16(entry + 2);
                string file = ReadString(strings, ReadUInt32(entry + 4));
                long aux = entry + ReadUInt32(entry + 8);
                for (int i = 0; i < count; i++)
                {
                    result.Add(new ElfVersionNeed(file, ReadString(strings, ReadUInt32(aux + 8)), ReadUInt16(aux + 4), ReadUInt16(aux + 6), aux + 4));
                    aux += ReadUInt32(aux + 12);
                }

                uint next = ReadUInt32(entry + 12);
                if (next == 0)
                {
                    break;
                }

                entry += next;
            }
        }

        return result;
    }

    private List<string> ReadVersionDefinitions()
    {
        var result = new List<string>();
        foreach (var section in _sections.Where(s => s.Type == ShtGnuVerdef))
        {
            var strings = _sections[section.Link];
            long entry = section.Offset;
            for (int guard = 0; guard < 4096; guard++)
            {
                long aux = entry + ReadUInt32(entry + 12);
                result.Add(ReadString(strings, ReadUInt32(aux)));
                uint next = ReadUInt32(entry + 16);
                if (next == 0)
                {
                    break;
                }

                entry += next;
            }
        }

        return result;
    }

    private List<string> ReadNeeded()
    {
        var result = new List<string>();
        foreach (var section in _sections.Where(s => s.Type == ShtDynamic))
        {
            var strings = _sections[section.Link];
            for (long e = section.Offset; e + 16 <= section.Offset + section.Size; e += 16)
            {
                long tag = ReadInt64(e);
                if (tag == 0)
                {
                    break;
                }

                if (tag == DtNeeded)
                {
                    result.Add(ReadString(strings, (uint)ReadInt64(e + 8)));
                }
            }
        }

        return result;
    }

    private string ReadString(Section strings, uint offset)
    {
        long start = strings.Offset + offset;
        long end = start;
        long limit = strings.Offset + strings.Size;
        while (end < limit && _bytes[end] != 0)
        {
            end++;
        }

        return Encoding.ASCII.GetString(_bytes, (int)start, (int)(end - start));
    }

    private ushort ReadUInt16(long offset) => BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan((int)offset, 2));

    private uint ReadUInt32(long offset) => BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan((int)offset, 4));

    private long ReadInt64(long offset) => BinaryPrimitives.ReadInt64LittleEndian(_bytes.AsSpan((int)offset, 8));

    private sealed record Section(uint Type, long Offset, long Size, int Link);
}
