using Became.Core.Evaluation;

namespace Became.Bench;

/// <summary>What <c>became bench</c> writes: the protocol, every run, and a per-method summary.</summary>
/// <param name="Protocol">The settings the bench ran under.</param>
/// <param name="Runs">Every run, in the order they finished.</param>
/// <param name="Summary">One entry per method, in the order methods first appear in <paramref name="Runs"/>.</param>
public sealed record BenchReport(
    BenchProtocol Protocol,
    IReadOnlyList<BenchRun> Runs,
    IReadOnlyList<BenchSummary> Summary)
{
    /// <summary>Builds the report from the runs' results; the summary uses population standard deviations (ddof=0).</summary>
    public static BenchReport Create(BenchProtocol protocol, IEnumerable<ContinualRunResult> results)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(results);
        var list = results.ToList();
        return new BenchReport(protocol, list.Select(BenchRun.From).ToArray(), BenchSummary.Summarize(list));
    }
}
