namespace Became.Core.Models;

/// <summary>Splits n samples into consecutive batches; a tail shorter than the network's minimum batch joins the
/// batch before it (batch norm cannot normalise a single sample).</summary>
public static class BatchRanges
{
    /// <summary>(start, length) of each batch of <paramref name="size"/> samples over <paramref name="count"/>.</summary>
    public static IEnumerable<(int Start, int Length)> Of(int count, int size, int minimum = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        for (int start = 0; start < count; start += size)
        {
            int length = Math.Min(size, count - start);
            int rest = count - start - length;
            if (rest > 0 && rest < minimum)
            {
                yield return (start, length + rest);
                yield break;
            }

            yield return (start, length);
        }
    }
}
