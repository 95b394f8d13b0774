using Became.Core.Data;
using static TorchSharp.torch;

namespace Became.Core.Tests.Data;

public sealed class CraftedDatasetTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public CraftedDatasetTests() => IdxTestFiles.WriteDataset(_dir.Path, train: 40, test: 20);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Counts_shape_and_classes_are_read_from_a_small_directory()
    {
        var dataset = ImageClassificationDataset.Load(_dir.Path);

        Assert.Equal((40, 20), (dataset.Train.Count, dataset.Test.Count));
        Assert.Equal((4, 5), (dataset.Height, dataset.Width));
        Assert.Equal(10, dataset.Classes);
    }

    [Fact]
    public void Normalised_training_inputs_have_zero_mean_and_unit_std()
    {
        using var scope = NewDisposeScope();
        var dataset = ImageClassificationDataset.Load(_dir.Path);

        var inputs = dataset.NormalisedInputs(dataset.Train, Enumerable.Range(0, 40).ToArray());

        Assert.Equal([40L, 20L], inputs.shape);
        Assert.Equal(0.0, inputs.mean().item<float>(), 1e-5);
        Assert.Equal(1.0, inputs.std(unbiased: false).item<float>(), 1e-5);
    }

    [Fact]
    public void Split_stream_pairs_classes_and_keeps_one_validation_image_per_task()
    {
        using var stream = TaskStreams.SplitFashionMnist(ImageClassificationDataset.Load(_dir.Path), seed: 0);

        Assert.Equal([20L], stream.InputShape);
        Assert.Equal(5, stream.Tasks.Count);
        Assert.All(stream.Tasks, t =>
        {
            // 8 training images per pair; 5% of 8 rounds to 0, raised to the minimum of 1.
            Assert.Equal(7, t.Train.Count);
            Assert.Equal(1, t.Validation.Count);
            Assert.Equal(4, t.Test.Count);
            Assert.Equal([20L], t.Train.Inputs.shape[1..]);
        });
    }

    [Fact]
    public void Permuted_stream_uses_every_training_image_when_fewer_than_requested()
    {
        using var stream = TaskStreams.PermutedFashionMnist(ImageClassificationDataset.Load(_dir.Path), seed: 0, tasks: 3);

        Assert.All(stream.Tasks, t =>
        {
            Assert.Equal(38, t.Train.Count);
            Assert.Equal(2, t.Validation.Count);
            Assert.Equal(20, t.Test.Count);
            Assert.Equal(10, t.Classes);
        });
    }

    [Fact]
    public void Missing_file_error_names_the_file_and_the_debian_package()
    {
        File.Delete(_dir.File("t10k-labels-idx1-ubyte.gz"));

        var error = Assert.Throws<FileNotFoundException>(() => ImageClassificationDataset.Load(_dir.Path));

        Assert.Contains("t10k-labels-idx1-ubyte", error.Message, StringComparison.Ordinal);
        Assert.Contains("apt-get install dataset-fashion-mnist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_directory_error_names_the_debian_package()
    {
        var missing = _dir.File("absent");

        var error = Assert.Throws<DirectoryNotFoundException>(() => ImageClassificationDataset.Load(missing));

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.Contains("apt-get install dataset-fashion-mnist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Image_and_label_count_mismatch_is_an_error()
    {
        File.WriteAllBytes(_dir.File("train-labels-idx1-ubyte.gz"), IdxTestFiles.Gzip(IdxTestFiles.Encode([39], new byte[39])));

        var error = Assert.Throws<InvalidDataException>(() => ImageClassificationDataset.Load(_dir.Path));

        Assert.Contains("40 train images but 39 train labels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Uncompressed_files_are_preferred_over_gzipped_ones()
    {
        var raw = IdxTestFiles.Encode([3], [0, 1, 1]);
        File.WriteAllBytes(_dir.File("t10k-labels-idx1-ubyte"), raw);
        File.WriteAllBytes(_dir.File("t10k-images-idx3-ubyte"), IdxTestFiles.Encode([3, 4, 5], new byte[60]));

        var dataset = ImageClassificationDataset.Load(_dir.Path);

        Assert.Equal(3, dataset.Test.Count);
    }

    [Fact]
    public void Stream_built_inside_a_dispose_scope_outlives_the_scope()
    {
        var dataset = ImageClassificationDataset.Load(_dir.Path);
        TaskStream stream;
        using (NewDisposeScope())
        {
            stream = TaskStreams.SplitFashionMnist(dataset, seed: 0);
        }

        using (stream)
        {
            Assert.Equal(7, stream.Tasks[0].Train.Count);
            Assert.False(stream.Tasks[0].Train.Inputs.IsInvalid);
        }
    }
}
