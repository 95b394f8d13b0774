using System.Globalization;
using Became.Core.Data;
using Became.Core.Serialization;

namespace Became.Protocol;

/// <summary>Builds task payloads (safetensors x uint8 [N, H, W], y int64 [N]) from a benchmark stream, exactly as
/// an external client would send them.</summary>
public static class TaskFiles
{
    /// <summary>The split-fmnist tasks: all training images of classes {2t, 2t+1}, labels 0/1 (at most
    /// <paramref name="maxSamples"/> per task, the first ones in file order).</summary>
    public static IReadOnlyList<(string TaskId, byte[] Payload)> SplitFashionMnist(ImageClassificationDataset dataset, IReadOnlyList<int>? tasks, int? maxSamples, string prefix = "split-fmnist")
    {
        int count = dataset.Classes / 2;
        var wanted = tasks ?? Enumerable.Range(0, count).ToList();
        var result = new List<(string, byte[])>();
        foreach (int task in wanted)
        {
            if (task < 0 || task >= count)
            {
                throw new ArgumentException($"split-fmnist has tasks 0..{count - 1}; {task} does not exist.");
            }

            var rows = Enumerable.Range(0, dataset.Train.Count)
                .Where(i => dataset.Train.Label(i) / 2 == task)
                .Take(maxSamples ?? int.MaxValue)
                .ToList();
            result.Add(($"{prefix}-{task}", Payload(dataset, rows, task * 2, $"classes {2 * task}-{2 * task + 1}", 2)));
        }

        return result;
    }

    private static byte[] Payload(ImageClassificationDataset dataset, IReadOnlyList<int> rows, int labelOffset, string name, int classes)
    {
        int pixels = dataset.PixelsPerImage;
        var x = new byte[(long)rows.Count * pixels];
        var y = new byte[rows.Count * sizeof(long)];
        for (int i = 0; i < rows.Count; i++)
        {
            dataset.Train.Image(rows[i]).CopyTo(x.AsSpan(i * pixels, pixels));
            BitConverter.TryWriteBytes(y.AsSpan(i * sizeof(long), sizeof(long)), (long)(dataset.Train.Label(rows[i]) - labelOffset));
        }

        return SafeTensorsFile.Write(
            [
                new SafeTensor("x", "U8", [rows.Count, dataset.Height, dataset.Width], x),
                new SafeTensor("y", "I64", [rows.Count], y),
            ],
            new Dictionary<string, string> { ["name"] = name, ["classes"] = classes.ToString(CultureInfo.InvariantCulture) });
    }
}
