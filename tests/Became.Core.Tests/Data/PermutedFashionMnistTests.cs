using Became.Core.Data;
using static TorchSharp.torch;

namespace Became.Core.Tests.Data;

[Collection(FashionMnistCollection.Name)]
public sealed class PermutedFashionMnistTests(FashionMnistFixture fixture)
{
    [Fact]
    public void Stream_has_ten_tasks_of_all_classes_with_10000_training_images_and_the_whole_test_set()
    {
        var stream = fixture.Permuted;

        Assert.Equal("permuted-fmnist", stream.Name);
        Assert.Equal(10, stream.Tasks.Count);
        Assert.All(stream.Tasks, t =>
        {
            Assert.Equal(10, t.Classes);
            Assert.Equal(9500, t.Train.Count);
            Assert.Equal(500, t.Validation.Count);
            Assert.Equal(10000, t.Test.Count);
        });
    }

    [Fact]
    public void Task_zero_is_the_unpermuted_inputs_of_its_chosen_samples()
    {
        using var scope = NewDisposeScope();
        var dataset = fixture.Dataset;
        var task = fixture.Permuted.Tasks[0];
        var (train, validation) = TaskStreams.PermutedTaskIndices(dataset.Train.Count, FashionMnistFixture.Seed, 0, 10000, 0.05);

        Assert.True(TensorAssert.Same(task.Train.Inputs, dataset.NormalisedInputs(dataset.Train, train)));
        Assert.True(TensorAssert.Same(task.Validation.Inputs, dataset.NormalisedInputs(dataset.Train, validation)));
        Assert.True(TensorAssert.Same(task.Test.Inputs, dataset.NormalisedInputs(dataset.Test, Enumerable.Range(0, 10000).ToArray())));
        Assert.Equal(train.Select(i => (long)dataset.Train.Label(i)), task.Train.Labels.data<long>().ToArray());
    }

    [Fact]
    public void Task_one_is_a_pixel_permutation_of_the_same_test_images()
    {
        using var scope = NewDisposeScope();
        var tasks = fixture.Permuted.Tasks;
        var permutation = TaskStreams.PixelPermutation(784, 1, permutationSeed: 0);

        Assert.False(TensorAssert.Same(tasks[1].Test.Inputs, tasks[0].Test.Inputs));
        Assert.True(TensorAssert.Same(tasks[1].Test.Inputs, tasks[0].Test.Inputs.index_select(1, tensor(permutation.Select(p => (long)p).ToArray()))));
        Assert.True(TensorAssert.Same(tasks[1].Test.Labels, tasks[0].Test.Labels));
    }

    [Fact]
    public void Permutations_are_the_same_for_every_run_seed()
    {
        using var other = TaskStreams.PermutedFashionMnist(fixture.Dataset, seed: 2, tasks: 3, trainPerTask: 50);

        for (var task = 0; task < 3; task++)
        {
            Assert.True(TensorAssert.Same(other.Tasks[task].Test.Inputs, fixture.Permuted.Tasks[task].Test.Inputs));
        }
    }

    [Fact]
    public void Run_seed_changes_the_chosen_training_samples()
    {
        var first = TaskStreams.PermutedTaskIndices(60000, seed: 1, task: 3, trainPerTask: 100, validationFraction: 0.05);
        var second = TaskStreams.PermutedTaskIndices(60000, seed: 2, task: 3, trainPerTask: 100, validationFraction: 0.05);

        Assert.NotEqual(first.Train, second.Train);
    }

    [Fact]
    public void Smaller_train_per_task_is_respected()
    {
        using var stream = TaskStreams.PermutedFashionMnist(fixture.Dataset, seed: 3, tasks: 2, trainPerTask: 50);

        // 5% of 50 is 2.5, rounded to nearest (away from zero) gives 3.
        Assert.All(stream.Tasks, t =>
        {
            Assert.Equal(47, t.Train.Count);
            Assert.Equal(3, t.Validation.Count);
        });
    }

    [Fact]
    public void Different_tasks_draw_different_permutations()
    {
        Assert.Equal(Enumerable.Range(0, 784), TaskStreams.PixelPermutation(784, 0, 0));
        Assert.NotEqual(TaskStreams.PixelPermutation(784, 1, 0), TaskStreams.PixelPermutation(784, 2, 0));
        Assert.NotEqual(TaskStreams.PixelPermutation(784, 1, 0), TaskStreams.PixelPermutation(784, 1, 1));
    }
}
