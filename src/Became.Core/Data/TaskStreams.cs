using static TorchSharp.torch;

namespace Became.Core.Data;

/// <summary>Builds the continual-learning task streams (split and permuted) from an image classification dataset.</summary>
public static class TaskStreams
{
    // Keys that keep the random streams for different purposes apart even with equal seeds.
    private const long SplitValidationKey = 1;
    private const long PermutedSampleKey = 2;
    private const long PermutationKey = 3;

    /// <summary>"split-fmnist": one task per pair of consecutive classes {0,1},{2,3},…, labels remapped to 0/1 (lower
    /// class 0). With <paramref name="trainPerTask"/>, each task keeps that many of its shuffled pool (validation taken
    /// from them), else the whole pool.</summary>
    public static TaskStream SplitFashionMnist(ImageClassificationDataset dataset, int seed, double validationFraction = 0.05, int? trainPerTask = null)
    {
        if (trainPerTask is int cap)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cap);
        }

        ArgumentNullException.ThrowIfNull(dataset);
        CheckFraction(validationFraction);
        if (dataset.Classes % 2 != 0)
        {
            throw new ArgumentException($"Split tasks pair consecutive classes, but the dataset has an odd number of classes ({dataset.Classes}).", nameof(dataset));
        }

        return Build("split-fmnist", dataset, dataset.Classes / 2, task =>
        {
            var (train, validation) = SplitTaskIndices(dataset, seed, task, validationFraction, trainPerTask);
            var test = IndicesOfClasses(dataset.Test, 2 * task);
            var name = $"classes {2 * task}-{2 * task + 1}";
            return new ContinualTask(
                task,
                name,
                2,
                MakeSet(dataset, dataset.Train, train, default, 2 * task),
                MakeSet(dataset, dataset.Train, validation, default, 2 * task),
                MakeSet(dataset, dataset.Test, test, default, 2 * task));
        });
    }

    /// <summary>"permuted-fmnist": task 0 the identity, later tasks fixed pixel permutations from <paramref name="permutationSeed"/>; each task a seeded sample of the training set and the whole test set, all classes.</summary>
    public static TaskStream PermutedFashionMnist(
        ImageClassificationDataset dataset,
        int seed,
        int tasks = 10,
        int trainPerTask = 10000,
        double validationFraction = 0.05,
        int permutationSeed = 0)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tasks);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(trainPerTask);
        CheckFraction(validationFraction);

        var allTest = Enumerable.Range(0, dataset.Test.Count).ToArray();
        return Build("permuted-fmnist", dataset, tasks, task =>
        {
            var permutation = PixelPermutation(dataset.PixelsPerImage, task, permutationSeed);
            var (train, validation) = PermutedTaskIndices(dataset.Train.Count, seed, task, trainPerTask, validationFraction);
            var name = task == 0 ? "identity" : $"permutation {task}";
            return new ContinualTask(
                task,
                name,
                dataset.Classes,
                MakeSet(dataset, dataset.Train, train, permutation, 0),
                MakeSet(dataset, dataset.Train, validation, permutation, 0),
                MakeSet(dataset, dataset.Test, allTest, permutation, 0));
        });
    }

    /// <summary>The stream with every image zero-padded (pixel value 0, i.e. <paramref name="padValue"/> after
    /// normalisation), centred, to <paramref name="height"/> x <paramref name="width"/> and copied to
    /// <paramref name="channels"/> channels: inputs [N, channels*height*width] of shape [channels, height, width]. The
    /// source's images are [imageHeight, imageWidth] one-channel (flat inputs); it is not disposed.</summary>
    public static TaskStream AsImages(TaskStream source, int imageHeight, int imageWidth, int channels, int height, int width, float padValue)
    {
        if (height < imageHeight || width < imageWidth || channels < 1)
        {
            throw new ArgumentException($"Images of {imageHeight}x{imageWidth} can be padded to a larger shape only; got [{channels}, {height}, {width}].");
        }

        int top = (height - imageHeight) / 2, left = (width - imageWidth) / 2;
        LabelledSet Convert(LabelledSet set)
        {
            using var scope = NewDisposeScope();
            var images = set.Inputs.reshape(set.Count, 1, imageHeight, imageWidth);
            var padded = nn.functional.pad(images, [left, width - imageWidth - left, top, height - imageHeight - top], value: padValue);
            var inputs = padded.expand(set.Count, channels, height, width).reshape(set.Count, -1).contiguous();
            return new LabelledSet(inputs.DetachFromDisposeScope(), set.Labels.clone().DetachFromDisposeScope());
        }

        var tasks = source.Tasks.Select(t => new ContinualTask(t.Index, t.Name, t.Classes, Convert(t.Train), Convert(t.Validation), Convert(t.Test))).ToList();
        return new TaskStream(source.Name, tasks, [channels, height, width]);
    }

    /// <summary>Pixel order of a permuted task: identity for task 0, otherwise drawn from the permutation seed alone (independent of the run seed).</summary>
    internal static int[] PixelPermutation(int pixels, int task, int permutationSeed)
    {
        var permutation = Enumerable.Range(0, pixels).ToArray();
        if (task > 0)
        {
            SplitMix64.For(PermutationKey, permutationSeed, task).Shuffle(permutation);
        }

        return permutation;
    }

    /// <summary>Training and validation source indices of split task <paramref name="task"/>, each ascending.</summary>
    internal static (int[] Train, int[] Validation) SplitTaskIndices(ImageClassificationDataset dataset, int seed, int task, double validationFraction, int? trainPerTask = null)
    {
        var candidates = IndicesOfClasses(dataset.Train, 2 * task);
        if (candidates.Length == 0)
        {
            throw new InvalidDataException($"{dataset.Directory}: no training images of classes {2 * task} and {2 * task + 1}.");
        }

        SplitMix64.For(SplitValidationKey, seed, task).Shuffle(candidates);
        var chosen = trainPerTask is int cap && cap < candidates.Length ? candidates[..cap] : candidates;
        return Divide(chosen, ValidationCount(chosen.Length, validationFraction));
    }

    /// <summary>Training and validation source indices of permuted task <paramref name="task"/>, each ascending.</summary>
    internal static (int[] Train, int[] Validation) PermutedTaskIndices(int trainCount, int seed, int task, int trainPerTask, double validationFraction)
    {
        var all = Enumerable.Range(0, trainCount).ToArray();
        SplitMix64.For(PermutedSampleKey, seed, task).Shuffle(all);
        var chosen = all[..Math.Min(trainPerTask, trainCount)];
        return Divide(chosen, ValidationCount(chosen.Length, validationFraction));
    }

    /// <summary>Validation size: the fraction rounded to nearest, but at least 1 and leaving at least 1 for training when there are two or more samples.</summary>
    internal static int ValidationCount(int samples, double fraction)
    {
        if (fraction == 0 || samples < 2)
        {
            return 0;
        }

        var count = (int)Math.Round(samples * fraction, MidpointRounding.AwayFromZero);
        return Math.Clamp(count, 1, samples - 1);
    }

    private static (int[] Train, int[] Validation) Divide(int[] shuffled, int validationCount)
    {
        // Shuffled order picks the split; sorted order keeps each part readable and stable.
        var validation = shuffled[..validationCount];
        var train = shuffled[validationCount..];
        Array.Sort(validation);
        Array.Sort(train);
        return (train, validation);
    }

    private static int[] IndicesOfClasses(ImageSet set, int lowerClass)
    {
        var labels = set.Labels.Span;
        var indices = new List<int>();
        for (var i = 0; i < labels.Length; i++)
        {
            if (labels[i] == lowerClass || labels[i] == lowerClass + 1)
            {
                indices.Add(i);
            }
        }

        return indices.ToArray();
    }

    private static LabelledSet MakeSet(ImageClassificationDataset dataset, ImageSet set, int[] indices, ReadOnlySpan<int> permutation, int labelOffset)
    {
        var labels = new long[indices.Length];
        for (var i = 0; i < indices.Length; i++)
        {
            labels[i] = set.Label(indices[i]) - labelOffset;
        }

        // The stream owns its tensors (TaskStream.Dispose frees them), so a caller's dispose scope must not.
        var inputs = dataset.NormalisedInputs(set, indices, permutation).DetachFromDisposeScope();
        return new LabelledSet(inputs, tensor(labels, new long[] { labels.Length }).DetachFromDisposeScope());
    }

    private static TaskStream Build(string name, ImageClassificationDataset dataset, int taskCount, Func<int, ContinualTask> makeTask)
    {
        // Tasks are independent (each draws from its own seeded stream), so they are built on every core: most of the
        // time goes to first touches of the new input arrays' pages, which run in parallel.
        var tasks = new ContinualTask?[taskCount];
        try
        {
            Parallel.For(0, taskCount, task => tasks[task] = makeTask(task));
        }
        catch
        {
            // Free the tensors of the tasks already built; the caller never sees them.
            foreach (var built in tasks)
            {
                built?.Dispose();
            }

            throw;
        }

        return new TaskStream(name, tasks.Select(t => t!).ToList(), new long[] { dataset.PixelsPerImage });
    }

    private static void CheckFraction(double validationFraction)
    {
        if (!(validationFraction >= 0 && validationFraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "Validation fraction must be in [0, 1).");
        }
    }
}
