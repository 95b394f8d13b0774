namespace Became.Core.Data;

/// <summary>SplitMix64: a tiny generator whose output is fixed by its seed on every machine and runtime.</summary>
internal sealed class SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>A generator seeded from several keys (e.g. purpose, seed, task index) so each combination gets its own stream.</summary>
    public static SplitMix64 For(params long[] keys)
    {
        ulong h = 0;
        foreach (var key in keys)
        {
            h = Mix(h ^ (ulong)key);
        }

        return new SplitMix64(h);
    }

    public ulong Next() => Mix(_state += 0x9E3779B97F4A7C15UL);

    /// <summary>Uniform integer in [0, bound), without modulo bias.</summary>
    public int NextInt(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bound);
        var limit = ulong.MaxValue - ulong.MaxValue % (ulong)bound;
        ulong r;
        do
        {
            r = Next();
        }
        while (r >= limit);

        return (int)(r % (ulong)bound);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle(Span<int> values)
    {
        for (var i = values.Length - 1; i > 0; i--)
        {
            var j = NextInt(i + 1);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
