using Became.Core.Data;
using Became.Core.Merging;
using Became.Core.Models;
using static TorchSharp.torch;

namespace Became.Core.Training;

/// <summary>
/// Runs two independent pieces of tensor work at once, one on the caller's thread and one on a second thread, each
/// with one intra-op thread: the Fisher passes and the memory's representations only read the weights, and two
/// single-threaded workers keep two cores busy without OpenMP's fork/join and barrier waits (which on a loaded
/// machine cost more than they save). With fewer than two torch threads the two run one after the other.
/// </summary>
internal static class TwoThreads
{
    /// <summary>Runs <paramref name="side"/> on a second thread and <paramref name="main"/> on this one; when one
    /// fails, the other's result is handed to <paramref name="discard"/> and the failure rethrown.</summary>
    public static (TSide Side, TMain Main) Run<TSide, TMain>(Func<TSide> side, Func<TMain> main, Action<object?> discard) =>
        Run(side, main, r => discard(r), r => discard(r));

    /// <summary>As <see cref="Run{TSide, TMain}(Func{TSide}, Func{TMain}, Action{object})"/>, with a discard for each side's result.</summary>
    public static (TSide Side, TMain Main) Run<TSide, TMain>(Func<TSide> side, Func<TMain> main, Action<TSide> discardSide, Action<TMain> discardMain)
    {
        int threads = get_num_threads();
        if (threads < 2)
        {
            var first = side();
            try
            {
                return (first, main());
            }
            catch
            {
                discardSide(first);
                throw;
            }
        }

        set_num_threads(1);
        try
        {
            var worker = Task.Factory.StartNew(
                () =>
                {
                    set_num_threads(1);
                    return side();
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
            TMain mainResult;
            try
            {
                mainResult = main();
            }
            catch
            {
                // Never leave the worker running on the weights; drop what it made.
                try
                {
                    discardSide(worker.GetAwaiter().GetResult());
                }
                catch (Exception)
                {
                    // The caller's failure is the one to report.
                }

                throw;
            }

            TSide sideResult;
            try
            {
                sideResult = worker.GetAwaiter().GetResult();
            }
            catch
            {
                discardMain(mainResult);
                throw;
            }

            return (sideResult, mainResult);
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    /// <summary>The diagonal Fisher of <paramref name="data"/> as two halves on two threads, combined as the
    /// sample-weighted mean (the same mean over samples; the halves split at a batch boundary, so the batch
    /// estimator sees the same batches). Only for linear stacks: their forward pass keeps no state.</summary>
    public static Dictionary<string, Tensor> Fisher(IContinualNetwork network, int head, LabelledSet data, FisherOptions options)
    {
        int batch = Math.Max(1, options.BatchSize);
        int firstCount = data.Count / 2 / batch * batch;
        if (!CapabilityChecks.CanReadConcurrently(network) || firstCount == 0 || get_num_threads() < 2)
        {
            return DiagonalFisher.Compute(network, head, data, options);
        }

        using var first = Slice(data, 0, firstCount);
        using var second = Slice(data, firstCount, data.Count - firstCount);
        var (a, b) = Run(
            () => DiagonalFisher.Compute(network, head, first, options),
            () => DiagonalFisher.Compute(network, head, second, options),
            DisposeFisher);
        using var noGrad = no_grad();
        foreach (var (name, value) in a)
        {
            using var other = b[name];
            value.mul_((double)first.Count / data.Count).add_(other, alpha: (double)second.Count / data.Count);
        }

        return a;
    }

    /// <summary>Disposes a Fisher dictionary (or nothing, for other results).</summary>
    public static void DisposeFisher(object? result)
    {
        if (result is Dictionary<string, Tensor> fisher)
        {
            foreach (var value in fisher.Values)
            {
                value.Dispose();
            }
        }
    }

    private static LabelledSet Slice(LabelledSet data, int start, int count) =>
        new(data.Inputs.narrow(0, start, count), data.Labels.narrow(0, start, count));
}
