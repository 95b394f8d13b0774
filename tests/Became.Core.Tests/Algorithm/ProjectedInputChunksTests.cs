using Became.Core.Data;
using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.Training;
using static Became.Core.Tests.Algorithm.AlgorithmTensors;
using static TorchSharp.torch;

namespace Became.Core.Tests.Algorithm;

/// <summary>
/// The first layer's projected inputs of an epoch, made a chunk at a time by a worker thread and by the training
/// thread when the worker is behind: whoever makes a chunk, it holds the rows of the epoch's order times P.
/// </summary>
public sealed class ProjectedInputChunksTests
{
    private const int Rows = 230;
    private const int Width = 12;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_chunk_is_its_rows_in_epoch_order_times_the_projection(bool worker)
    {
        using var scope = NewDisposeScope();
        using var epoch = new Epoch(5);
        var expected = epoch.Projector.ProjectInput(0, epoch.Set.Inputs.index_select(0, epoch.Order))!;
        var chunks = Enumerable.Range(0, (Rows + 19) / 20).Select(c => (c * 20, Math.Min(20, Rows - c * 20))).ToList();

        using var projected = new ProjectedInputChunks(epoch.Projector, new EpochRows(epoch.Set, epoch.Order), chunks, worker);
        for (int c = 0; c < chunks.Count; c++)
        {
            var (start, length) = chunks[c];
            var chunk = projected.Take(c)!;
            Assert.Equal([length, Width], chunk.shape);
            Assert.True(Norm(chunk.to_type(ScalarType.Float64) - expected.narrow(0, start, length).to_type(ScalarType.Float64)) < 1e-5, $"chunk {c}");
            projected.Release(c);
        }
    }

    [Fact]
    public void Disposing_in_the_middle_of_an_epoch_stops_the_worker_and_frees_the_chunks()
    {
        using var scope = NewDisposeScope();
        using var epoch = new Epoch(6);
        var chunks = Enumerable.Range(0, Rows / 10).Select(c => (c * 10, 10)).ToList();
        var projected = new ProjectedInputChunks(epoch.Projector, new EpochRows(epoch.Set, epoch.Order), chunks, worker: true);
        var first = projected.Take(0)!;
        Assert.Equal(10, first.shape[0]);
        projected.Dispose();

        Assert.True(first.IsInvalid, "a chunk taken but not released is freed with the epoch");
    }

    /// <summary>A 12 → 10 MLP whose first layer projects onto the complement of a rank-4 basis, and an epoch of
    /// random rows in a random order.</summary>
    private sealed class Epoch : IDisposable
    {
        private readonly MultiHeadMlp _network = new(Width, [10]);
        private readonly GradientProjectionMemory _memory = new([Width], new GpmOptions { Thresholds = [0.9] });

        public Epoch(ulong seed)
        {
            using var generator = new Generator(seed);
            _memory.SetBasis(0, RandomOrthonormal(Width, 4));
            Projector = new GradientProjector(_network.SharedLayers, _memory);
            Set = new LabelledSet(randn([Rows, Width], generator: generator), zeros(Rows, dtype: ScalarType.Int64));
            Order = randperm(Rows, generator: generator);
        }

        public GradientProjector Projector { get; }

        public LabelledSet Set { get; }

        public Tensor Order { get; }

        public void Dispose()
        {
            Projector.Dispose();
            _memory.Dispose();
            _network.Dispose();
        }
    }
}
