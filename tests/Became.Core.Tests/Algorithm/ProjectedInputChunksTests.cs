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
        using var generator = new Generator(5);
        using var network = new MultiHeadMlp(Width, [10]);
        using var memory = new GradientProjectionMemory([Width], new GpmOptions { Thresholds = [0.9] });
        memory.SetBasis(0, RandomOrthonormal(Width, 4));
        using var projector = new GradientProjector(network.SharedLayers, memory);
        var set = new LabelledSet(randn([Rows, Width], generator: generator), zeros(Rows, dtype: ScalarType.Int64));
        var order = randperm(Rows, generator: generator);
        var expected = projector.ProjectInput(0, set.Inputs.index_select(0, order))!;
        var chunks = Enumerable.Range(0, (Rows + 19) / 20).Select(c => (c * 20, Math.Min(20, Rows - c * 20))).ToList();

        using var projected = new ProjectedInputChunks(projector, new EpochRows(set, order), chunks, worker);
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
        using var generator = new Generator(6);
        using var network = new MultiHeadMlp(Width, [10]);
        using var memory = new GradientProjectionMemory([Width], new GpmOptions { Thresholds = [0.9] });
        memory.SetBasis(0, RandomOrthonormal(Width, 4));
        using var projector = new GradientProjector(network.SharedLayers, memory);
        var set = new LabelledSet(randn([Rows, Width], generator: generator), zeros(Rows, dtype: ScalarType.Int64));
        var order = randperm(Rows, generator: generator);
        var chunks = Enumerable.Range(0, Rows / 10).Select(c => (c * 10, 10)).ToList();
        var projected = new ProjectedInputChunks(projector, new EpochRows(set, order), chunks, worker: true);
        var first = projected.Take(0)!;
        Assert.Equal(10, first.shape[0]);
        projected.Dispose();

        Assert.True(first.IsInvalid, "a chunk taken but not released is freed with the epoch");
    }
}
