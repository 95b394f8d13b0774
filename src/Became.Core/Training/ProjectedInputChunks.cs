using Became.Core.Models;
using static TorchSharp.torch;

namespace Became.Core.Training;

/// <summary>
/// The first layer's projected inputs x P of one epoch, made chunk by chunk (a few batches each) in the epoch's order.
/// A worker thread projects chunks ahead of the steps; when it falls behind (late tasks, whose bases are wide, make
/// the projection more work than the steps) the training thread projects the next free chunk itself instead of
/// waiting, so both cores share the projection. Each projection runs with one intra-op thread.
/// </summary>
internal sealed class ProjectedInputChunks : IDisposable
{
    /// <summary>Chunks the worker may run ahead of the training thread (bounds the memory held).</summary>
    private const int Ahead = 5;

    private readonly ILayerInputProjection _projector;
    private readonly EpochRows _rows;
    private readonly (int Start, int Length)[] _chunks;
    private readonly Tensor?[] _results;
    private readonly bool[] _done;
    private readonly object _gate = new();
    private readonly Task? _worker;
    private int _next;
    private int _released;
    private bool _stopping;
    private Exception? _failure;

    /// <param name="projector">The learner's input projection (its bases stay fixed during the stage).</param>
    /// <param name="rows">The epoch's rows in its order.</param>
    /// <param name="chunks">(start, length) of each chunk in epoch positions, in order.</param>
    /// <param name="worker">Start a worker thread (the process has a second core to spare).</param>
    public ProjectedInputChunks(ILayerInputProjection projector, EpochRows rows, IReadOnlyList<(int Start, int Length)> chunks, bool worker)
    {
        _projector = projector;
        _rows = rows;
        _chunks = chunks.ToArray();
        _results = new Tensor?[_chunks.Length];
        _done = new bool[_chunks.Length];
        if (worker && _chunks.Length > 1)
        {
            _worker = Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
    }

    /// <summary>Chunk <paramref name="chunk"/>'s projected inputs (owned here until <see cref="Release"/>); projects
    /// free chunks on this thread while it is not ready.</summary>
    public Tensor? Take(int chunk)
    {
        while (true)
        {
            int mine;
            lock (_gate)
            {
                if (_failure is not null)
                {
                    throw new InvalidOperationException("Projecting the inputs ahead failed.", _failure);
                }

                if (_done[chunk])
                {
                    return _results[chunk];
                }

                // The chunk is on the worker: project the next free one meanwhile, within the window.
                if (_next < _chunks.Length && (_next == chunk || _next < _released + Ahead))
                {
                    mine = _next++;
                }
                else
                {
                    Monitor.Wait(_gate);
                    continue;
                }
            }

            Store(mine, Project(mine));
        }
    }

    /// <summary>Frees chunk <paramref name="chunk"/> (the steps are past it) and lets the worker run further ahead.</summary>
    public void Release(int chunk)
    {
        lock (_gate)
        {
            _results[chunk]?.Dispose();
            _results[chunk] = null;
            _released = chunk + 1;
            Monitor.PulseAll(_gate);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }

        try
        {
            // A cancelled epoch still waits for the chunk in flight.
            _worker?.GetAwaiter().GetResult();
        }
        finally
        {
            foreach (var result in _results)
            {
                result?.Dispose();
            }
        }
    }

    private void Work()
    {
        // The worker's one intra-op thread: the training thread has the other core.
        set_num_threads(1);
        while (true)
        {
            int chunk;
            lock (_gate)
            {
                while (!_stopping && _next < _chunks.Length && _next >= _released + Ahead)
                {
                    Monitor.Wait(_gate);
                }

                if (_stopping || _next >= _chunks.Length)
                {
                    return;
                }

                chunk = _next++;
            }

            Tensor? result;
            try
            {
                result = Project(chunk);
            }
            catch (Exception e)
            {
                lock (_gate)
                {
                    _failure = e;
                    Monitor.PulseAll(_gate);
                }

                return;
            }

            Store(chunk, result);
        }
    }

    private Tensor? Project(int chunk)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (start, length) = _chunks[chunk];
        var block = _rows.Inputs(start, length);
        return _projector.ProjectInput(0, block)?.DetachFromDisposeScope();
    }

    private void Store(int chunk, Tensor? result)
    {
        lock (_gate)
        {
            _results[chunk] = result;
            _done[chunk] = true;
            Monitor.PulseAll(_gate);
        }
    }
}
