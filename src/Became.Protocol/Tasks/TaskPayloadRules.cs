using System.Globalization;

namespace Became.Protocol;

/// <summary>The rules every task format shares: metadata bounds, and whether a task can be split into a held-out test
/// set and a training and validation set (checked apart from a format's Inspect/Decode, which check the payload's form,
/// not its size).</summary>
public static class TaskPayloadRules
{
    /// <summary>Most classes a task may declare.</summary>
    public const int MaxClasses = 10_000;

    /// <summary>Longest accepted task name.</summary>
    public const int MaxNameLength = 200;

    /// <summary>Test fraction used when the metadata gives none.</summary>
    public const double DefaultTestFraction = 0.1;

    /// <summary>Largest accepted test fraction.</summary>
    public const double MaxTestFraction = 0.5;

    /// <summary>Fewest samples the split needs outside the test set: one to train on and one to validate on.</summary>
    public const int MinTrainAndValidationSamples = 2;

    /// <summary>Whether <paramref name="count"/> samples at <paramref name="testFraction"/> hold out at least one test
    /// sample and leave at least one to train and one to validate on (what <c>TaskSplit</c> needs).</summary>
    public static bool IsLargeEnough(int count, double testFraction)
    {
        int test = DecodedTask.TestCountOf(count, testFraction);
        return test >= 1 && count - test >= MinTrainAndValidationSamples;
    }

    /// <summary>Throws <see cref="ErrorCodes.TooSmall"/> when the task cannot be split.</summary>
    public static void CheckSplit(TaskPayloadSummary task)
    {
        ArgumentNullException.ThrowIfNull(task);
        CheckSplit(task.Count, task.TestFraction);
    }

    /// <summary>Throws <see cref="ErrorCodes.TooSmall"/> when the task cannot be split.</summary>
    public static void CheckSplit(DecodedTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        CheckSplit(task.Count, task.TestFraction);
    }

    private static void CheckSplit(int count, double testFraction)
    {
        if (IsLargeEnough(count, testFraction))
        {
            return;
        }

        // An empty held-out set has no accuracy (0/0): refuse here rather than learn a task nothing can measure.
        long test = (long)Math.Floor(count * testFraction);
        string fraction = testFraction.ToString("0.###", CultureInfo.InvariantCulture);
        string fix = $"send at least {SamplesNeeded(testFraction)} samples";
        if (FractionNeeded(count) is double needed)
        {
            fix += $", or set test_fraction to at least {needed.ToString("0.###", CultureInfo.InvariantCulture)}";
        }

        throw new TaskRejectedException(ErrorCodes.TooSmall,
            $"the task has {count} samples; test_fraction {fraction} holds out {test} for testing, and a task needs at least 1 test sample " +
            $"plus {MinTrainAndValidationSamples} to train and validate on: {fix}");
    }

    // The fewest samples that split at this fraction; testFraction is in (0, 0.5], so the answer is at most a few above 1/fraction.
    private static long SamplesNeeded(double testFraction)
    {
        long n = Math.Max(MinTrainAndValidationSamples + 1, (long)Math.Floor(1 / testFraction) - 1);
        while (n < int.MaxValue && !IsLargeEnough((int)n, testFraction))
        {
            n++;
        }

        return n;
    }

    // The smallest test fraction (rounded up to 3 decimals, at most 0.5) that splits this many samples, or null when none does.
    private static double? FractionNeeded(int count)
    {
        for (int thousandths = (int)Math.Ceiling(1000.0 / count); thousandths <= 1000 * MaxTestFraction; thousandths++)
        {
            if (IsLargeEnough(count, thousandths / 1000.0))
            {
                return thousandths / 1000.0;
            }
        }

        return null;
    }
}
