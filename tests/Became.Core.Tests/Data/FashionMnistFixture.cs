using Became.Core.Data;

namespace Became.Core.Tests.Data;

/// <summary>The real Fashion-MNIST files and streams built from them, loaded once for every test in the collection.</summary>
public sealed class FashionMnistFixture : IDisposable
{
    private readonly Lazy<TaskStream> _split;
    private readonly Lazy<TaskStream> _permuted;

    public FashionMnistFixture()
    {
        Dataset = ImageClassificationDataset.Load();
        _split = new Lazy<TaskStream>(() => TaskStreams.SplitFashionMnist(Dataset, Seed));
        _permuted = new Lazy<TaskStream>(() => TaskStreams.PermutedFashionMnist(Dataset, Seed));
    }

    public const int Seed = 1;

    public ImageClassificationDataset Dataset { get; }

    /// <summary>split-fmnist with <see cref="Seed"/> and default options.</summary>
    public TaskStream Split => _split.Value;

    /// <summary>permuted-fmnist with <see cref="Seed"/> and default options.</summary>
    public TaskStream Permuted => _permuted.Value;

    public void Dispose()
    {
        if (_split.IsValueCreated)
        {
            _split.Value.Dispose();
        }

        if (_permuted.IsValueCreated)
        {
            _permuted.Value.Dispose();
        }
    }
}

/// <summary>Tests that share one load of the real Fashion-MNIST.</summary>
[CollectionDefinition(Name)]
public sealed class FashionMnistCollection : ICollectionFixture<FashionMnistFixture>
{
    public const string Name = "Fashion-MNIST";
}
