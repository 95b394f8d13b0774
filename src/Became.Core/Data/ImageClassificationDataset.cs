using static TorchSharp.torch;

namespace Became.Core.Data;

/// <summary>One split of an image dataset as raw bytes: <c>Count</c> images of Height×Width pixels and their labels.</summary>
public sealed class ImageSet
{
    private readonly byte[] _pixels;
    private readonly byte[] _labels;

    internal ImageSet(byte[] pixels, byte[] labels, int pixelsPerImage)
    {
        _pixels = pixels;
        _labels = labels;
        PixelsPerImage = pixelsPerImage;
    }

    public int Count => _labels.Length;

    public int PixelsPerImage { get; }

    /// <summary>All images, row-major, <c>Count × PixelsPerImage</c> bytes.</summary>
    public ReadOnlyMemory<byte> Pixels => _pixels;

    public ReadOnlyMemory<byte> Labels => _labels;

    public ReadOnlySpan<byte> Image(int index) => _pixels.AsSpan(index * PixelsPerImage, PixelsPerImage);

    public int Label(int index) => _labels[index];
}

/// <summary>An MNIST-format image classification dataset (e.g. Fashion-MNIST) with training-set normalisation statistics.</summary>
public sealed class ImageClassificationDataset
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package installs Fashion-MNIST.</summary>
    public const string FashionMnistDirectory = "/usr/share/datasets/fashion-mnist";

    private const string AptHint =
        "On Debian, `apt-get install dataset-fashion-mnist` provides Fashion-MNIST in " + FashionMnistDirectory + ".";

    // Normalised value of each possible byte, so building inputs is one table lookup per pixel.
    private readonly float[] _normalised = new float[256];

    private ImageClassificationDataset(string directory, ImageSet train, ImageSet test, int height, int width, int classes)
    {
        Directory = directory;
        Train = train;
        Test = test;
        Height = height;
        Width = width;
        Classes = classes;
        (Mean, Std) = PixelStatistics(train);
        if (Std == 0)
        {
            throw new InvalidDataException($"{directory}: every training pixel has the same value, so inputs cannot be normalised.");
        }

        for (var v = 0; v < 256; v++)
        {
            _normalised[v] = (float)((v / 255.0 - Mean) / Std);
        }
    }

    public string Directory { get; }

    public ImageSet Train { get; }

    public ImageSet Test { get; }

    public int Height { get; }

    public int Width { get; }

    public int PixelsPerImage => Height * Width;

    /// <summary>Number of classes: the largest label in either split plus one.</summary>
    public int Classes { get; }

    /// <summary>Mean of all training pixels after scaling to [0, 1].</summary>
    public double Mean { get; }

    /// <summary>Population standard deviation of all training pixels after scaling to [0, 1].</summary>
    public double Std { get; }

    /// <summary>Loads <c>train-images-idx3-ubyte</c>, <c>train-labels-idx1-ubyte</c>, <c>t10k-images-idx3-ubyte</c> and <c>t10k-labels-idx1-ubyte</c> (each optionally <c>.gz</c>).</summary>
    public static ImageClassificationDataset Load(string directory = FashionMnistDirectory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"Dataset directory '{directory}' does not exist. {AptHint}");
        }

        // Inflating the training images is most of the time; it runs beside the other three files.
        var trainImagesRead = Task.Run(() => ReadFile(directory, "train-images-idx3-ubyte"));
        var trainLabels = ReadFile(directory, "train-labels-idx1-ubyte");
        var testImages = ReadFile(directory, "t10k-images-idx3-ubyte");
        var testLabels = ReadFile(directory, "t10k-labels-idx1-ubyte");
        var trainImages = trainImagesRead.GetAwaiter().GetResult();

        CheckPair(directory, "train", trainImages, trainLabels);
        CheckPair(directory, "t10k", testImages, testLabels);
        if (trainImages.Shape[1] != testImages.Shape[1] || trainImages.Shape[2] != testImages.Shape[2])
        {
            throw new InvalidDataException(
                $"{directory}: training images are {trainImages.Shape[1]}x{trainImages.Shape[2]} but test images are {testImages.Shape[1]}x{testImages.Shape[2]}.");
        }

        // Labels are bytes, so at most 256 classes; the count comes from the data rather than being assumed.
        var classes = Math.Max(trainLabels.Data.Max(), testLabels.Data.Max()) + 1;
        if (classes < 2)
        {
            throw new InvalidDataException($"{directory}: every label is 0; a classification dataset needs at least two classes.");
        }

        int height = trainImages.Shape[1], width = trainImages.Shape[2];
        return new ImageClassificationDataset(
            directory,
            new ImageSet(trainImages.Data, trainLabels.Data, height * width),
            new ImageSet(testImages.Data, testLabels.Data, height * width),
            height,
            width,
            classes);
    }

    /// <summary>Float32 inputs [indices.Length, Height*Width] of the chosen images, normalised; output pixel j is source pixel <c>permutation[j]</c> when a permutation is given.</summary>
    public Tensor NormalisedInputs(ImageSet set, ReadOnlySpan<int> indices, ReadOnlySpan<int> permutation = default)
    {
        ArgumentNullException.ThrowIfNull(set);
        var pixels = PixelsPerImage;
        if (!permutation.IsEmpty && permutation.Length != pixels)
        {
            throw new ArgumentException($"Permutation has {permutation.Length} entries but images have {pixels} pixels.", nameof(permutation));
        }

        var values = new float[(long)indices.Length * pixels];
        for (var row = 0; row < indices.Length; row++)
        {
            var image = set.Image(indices[row]);
            var target = values.AsSpan(row * pixels, pixels);
            if (permutation.IsEmpty)
            {
                for (var j = 0; j < pixels; j++)
                {
                    target[j] = _normalised[image[j]];
                }
            }
            else
            {
                for (var j = 0; j < pixels; j++)
                {
                    target[j] = _normalised[image[permutation[j]]];
                }
            }
        }

        if (values.Length == 0)
        {
            return zeros(indices.Length, pixels);
        }

        // The tensor takes the array as its storage (frombuffer pins it) rather than a copy (tensor() clones it): a
        // permuted-fmnist stream is 600 MB of inputs, and the copies doubled the bench's peak until the GC came by.
        using var flat = frombuffer(values, ScalarType.Float32);
        return flat.view(indices.Length, pixels);
    }

    private static IdxArray ReadFile(string directory, string name)
    {
        foreach (var candidate in new[] { name, name + ".gz" })
        {
            var path = Path.Combine(directory, candidate);
            if (File.Exists(path))
            {
                return IdxReader.Read(path);
            }
        }

        throw new FileNotFoundException($"Dataset file '{name}' (or '{name}.gz') is missing from '{directory}'. {AptHint}", Path.Combine(directory, name));
    }

    private static void CheckPair(string directory, string split, IdxArray images, IdxArray labels)
    {
        if (images.Shape.Length != 3)
        {
            throw new InvalidDataException($"{directory}: {split} images have {images.Shape.Length} dimensions; expected 3 (count, height, width).");
        }

        if (labels.Shape.Length != 1)
        {
            throw new InvalidDataException($"{directory}: {split} labels have {labels.Shape.Length} dimensions; expected 1.");
        }

        if (images.Count != labels.Count)
        {
            throw new InvalidDataException($"{directory}: {images.Count} {split} images but {labels.Count} {split} labels.");
        }
    }

    private static (double Mean, double Std) PixelStatistics(ImageSet train)
    {
        // A histogram of byte values gives exact sums without a pass over 47M floats.
        var counts = new long[256];
        foreach (var b in train.Pixels.Span)
        {
            counts[b]++;
        }

        double n = train.Pixels.Length, sum = 0;
        for (var v = 0; v < 256; v++)
        {
            sum += counts[v] * (v / 255.0);
        }

        var mean = sum / n;
        double squares = 0;
        for (var v = 0; v < 256; v++)
        {
            var d = v / 255.0 - mean;
            squares += counts[v] * d * d;
        }

        return (mean, Math.Sqrt(squares / n));
    }
}
