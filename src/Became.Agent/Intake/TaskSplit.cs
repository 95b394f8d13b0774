using System.Security.Cryptography;
using System.Text;
using Became.Core.Data;
using static TorchSharp.torch;

namespace Became.Agent.Intake;

/// <summary>A task's samples as scaled inputs ([0,1] pixels, float32, N x features) and labels, before normalisation.</summary>
/// <param name="Inputs">Row-major N x Features values.</param>
/// <param name="Labels">N labels.</param>
/// <param name="Features">Values per sample.</param>
public sealed record ScaledSamples(float[] Inputs, long[] Labels, int Features)
{
    public int Count => Labels.Length;

    public ScaledSamples Select(IReadOnlyList<int> rows)
    {
        var inputs = new float[(long)rows.Count * Features];
        var labels = new long[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            Array.Copy(Inputs, (long)rows[i] * Features, inputs, (long)i * Features, Features);
            labels[i] = Labels[rows[i]];
        }

        return new ScaledSamples(inputs, labels, Features);
    }

    /// <summary>Normalised tensors on the given device: (x - mean) / std.</summary>
    public LabelledSet ToLabelledSet(double mean, double std, Device device)
    {
        using var scope = NewDisposeScope();
        var x = tensor(Inputs, [Count, Features], device: device).sub_(mean).div_(std);
        var y = tensor(Labels, [Count], device: device);
        return new LabelledSet(x.DetachFromDisposeScope(), y.DetachFromDisposeScope());
    }
}

/// <summary>Splits a task into training, validation (5% of the rest) and held-out test samples, the same way
/// every time for the same task id, so a job restarted after a crash trains on exactly the same split.</summary>
public static class TaskSplit
{
    public const double ValidationFraction = 0.05;

    public static (ScaledSamples Train, ScaledSamples Validation, ScaledSamples Test) Split(string taskId, ScaledSamples samples, int testCount)
    {
        int n = samples.Count;
        var order = Enumerable.Range(0, n).ToArray();
        new Random(SeedOf(taskId)).Shuffle(order);
        // Leave at least two samples to train and validate on.
        int test = Math.Clamp(testCount, 0, Math.Max(0, n - 2));
        int rest = n - test;
        int validation = rest >= 2 ? Math.Clamp((int)Math.Round(rest * ValidationFraction, MidpointRounding.AwayFromZero), 1, rest - 1) : 0;
        var testRows = order[..test];
        var validationRows = order[test..(test + validation)];
        var trainRows = order[(test + validation)..];
        Array.Sort(trainRows);
        return (samples.Select(trainRows), samples.Select(validationRows), samples.Select(testRows));
    }

    private static int SeedOf(string taskId) => BitConverter.ToInt32(SHA256.HashData(Encoding.UTF8.GetBytes(taskId)), 0);
}
