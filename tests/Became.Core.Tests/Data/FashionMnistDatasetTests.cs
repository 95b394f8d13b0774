namespace Became.Core.Tests.Data;

[Collection(FashionMnistCollection.Name)]
public sealed class FashionMnistDatasetTests(FashionMnistFixture fixture)
{
    [Fact]
    public void Normalisation_statistics_match_the_published_fashion_mnist_values()
    {
        Assert.Equal(0.2860, fixture.Dataset.Mean, 0.0005);
        Assert.Equal(0.3530, fixture.Dataset.Std, 0.0005);
    }

    [Fact]
    public void Counts_image_size_and_classes_come_from_the_files()
    {
        var dataset = fixture.Dataset;

        Assert.Equal(60000, dataset.Train.Count);
        Assert.Equal(10000, dataset.Test.Count);
        Assert.Equal((28, 28), (dataset.Height, dataset.Width));
        Assert.Equal(10, dataset.Classes);
    }
}
