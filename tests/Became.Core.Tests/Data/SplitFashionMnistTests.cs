using Became.Core.Data;
using static TorchSharp.torch;

namespace Became.Core.Tests.Data;

[Collection(FashionMnistCollection.Name)]
public sealed class SplitFashionMnistTests(FashionMnistFixture fixture)
{
    [Fact]
    public void Stream_has_five_binary_tasks_over_consecutive_class_pairs()
    {
        var stream = fixture.Split;

        Assert.Equal("split-fmnist", stream.Name);
        Assert.Equal([784L], stream.InputShape);
        Assert.Equal(["classes 0-1", "classes 2-3", "classes 4-5", "classes 6-7", "classes 8-9"], stream.Tasks.Select(t => t.Name));
        Assert.All(stream.Tasks, t => Assert.Equal(2, t.Classes));
        Assert.Equal([0, 1, 2, 3, 4], stream.Tasks.Select(t => t.Index));
    }

    [Fact]
    public void Each_task_holds_all_12000_training_images_of_its_classes_with_600_for_validation()
    {
        Assert.All(fixture.Split.Tasks, t =>
        {
            Assert.Equal(11400, t.Train.Count);
            Assert.Equal(600, t.Validation.Count);
        });
    }

    [Fact]
    public void Each_task_tests_on_the_2000_test_images_of_its_classes()
    {
        Assert.All(fixture.Split.Tasks, t => Assert.Equal(2000, t.Test.Count));
    }

    [Fact]
    public void Labels_are_remapped_to_zero_and_one_with_the_lower_class_as_zero()
    {
        using var scope = NewDisposeScope();
        foreach (var task in fixture.Split.Tasks)
        {
            foreach (var set in new[] { task.Train, task.Validation, task.Test })
            {
                Assert.Equal(ScalarType.Int64, set.Labels.dtype);
                Assert.Equal([0L, 1L], set.Labels.unique().Item1.data<long>().ToArray());
            }

            // Fashion-MNIST is balanced: 1000 test images per class.
            Assert.Equal(1000, CountOf(task.Test, 0));
        }

        static long CountOf(LabelledSet set, long label) => set.Labels.eq(label).sum().item<long>();
    }

    [Fact]
    public void Inputs_are_normalised_float32_rows_of_the_chosen_images()
    {
        using var scope = NewDisposeScope();
        var dataset = fixture.Dataset;
        var task = fixture.Split.Tasks[1];
        var (train, validation) = TaskStreams.SplitTaskIndices(dataset, FashionMnistFixture.Seed, 1, 0.05);

        Assert.Equal(ScalarType.Float32, task.Train.Inputs.dtype);
        Assert.True(TensorAssert.Same(task.Train.Inputs, dataset.NormalisedInputs(dataset.Train, train)));
        Assert.True(TensorAssert.Same(task.Validation.Inputs, dataset.NormalisedInputs(dataset.Train, validation)));
        Assert.All(train.Concat(validation), i => Assert.InRange(dataset.Train.Label(i), 2, 3));
    }

    [Fact]
    public void Training_and_validation_images_are_disjoint()
    {
        for (var task = 0; task < 5; task++)
        {
            var (train, validation) = TaskStreams.SplitTaskIndices(fixture.Dataset, FashionMnistFixture.Seed, task, 0.05);

            Assert.Empty(train.Intersect(validation));
            Assert.Equal(12000, train.Union(validation).Count());
        }
    }

    [Fact]
    public void Validation_split_depends_on_the_seed_and_only_on_the_seed()
    {
        var first = TaskStreams.SplitTaskIndices(fixture.Dataset, 5, 0, 0.05).Validation;
        var again = TaskStreams.SplitTaskIndices(fixture.Dataset, 5, 0, 0.05).Validation;
        var other = TaskStreams.SplitTaskIndices(fixture.Dataset, 6, 0, 0.05).Validation;

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }
}
