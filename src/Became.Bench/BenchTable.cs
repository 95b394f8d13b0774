using System.Globalization;
using System.Text;

namespace Became.Bench;

/// <summary>Renders a bench summary as a plain-text table aligned for a monospace console.</summary>
public static class BenchTable
{
    /// <summary>Shown where a figure is absent: no stage 2, or no reference for the method.</summary>
    public const string Missing = "—";

    private const string ColumnGap = "  ";
    private const string ReferenceGap = "  |  ";

    /// <summary>The table of <paramref name="report"/>'s summary; see <see cref="Render(IReadOnlyList{BenchSummary}, IReadOnlyDictionary{string, BenchReference}?)"/>.</summary>
    public static string Render(BenchReport report, IReadOnlyDictionary<string, BenchReference>? reference = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        return Render(report.Summary, reference);
    }

    /// <summary>
    /// One row per method: ACC and BWT as mean ± population sd over seeds, mean seconds per run, stage-1 and
    /// stage-2 samples per second (<see cref="Missing"/> when 0), and, when the runs measured them, the mean accuracy
    /// and task-id accuracy without a task id. With <paramref name="reference"/>, reference ACC, BWT
    /// (and seconds, when any reference gives them) follow after a bar, <see cref="Missing"/> for methods it lacks.
    /// Lines end with <see cref="Environment.NewLine"/>.
    /// </summary>
    public static string Render(IReadOnlyList<BenchSummary> summary, IReadOnlyDictionary<string, BenchReference>? reference = null)
    {
        ArgumentNullException.ThrowIfNull(summary);
        bool withReference = reference is { Count: > 0 };
        bool withReferenceSeconds = withReference && reference!.Values.Any(r => r.SecondsMean is not null);

        bool withAgnostic = summary.Any(s => s.TaskAgnosticAccMean is not null);
        var header = new List<string> { "method", "ACC %", "BWT %", "s/run", "stage-1 samples/s", "stage-2 samples/s" };
        if (withAgnostic)
        {
            header.Add("no-task-id ACC %");
            header.Add("task-id %");
        }

        int referenceStart = header.Count;
        if (withReference)
        {
            header.Add("ref ACC %");
            header.Add("ref BWT %");
            if (withReferenceSeconds)
            {
                header.Add("ref s/run");
            }
        }

        string[] acc = PlusMinus(summary.Select(s => (s.AccMean, s.AccStd)).ToList());
        string[] bwt = PlusMinus(summary.Select(s => (s.BwtMean, s.BwtStd)).ToList());
        var rows = new List<string[]>();
        for (int i = 0; i < summary.Count; i++)
        {
            BenchSummary s = summary[i];
            var row = new List<string>
            {
                s.Method,
                acc[i],
                bwt[i],
                Format(s.SecondsMean, 1),
                Throughput(s.Stage1SamplesPerSecondMean),
                Throughput(s.Stage2SamplesPerSecondMean),
            };
            if (withAgnostic)
            {
                row.Add(s.TaskAgnosticAccMean is double agnostic ? Format(agnostic, 2) : Missing);
                row.Add(s.TaskIdAccMean is double taskId ? Format(taskId, 2) : Missing);
            }

            if (withReference)
            {
                BenchReference? r = reference!.GetValueOrDefault(s.Method);
                row.Add(r is null ? Missing : Format(r.AccMean, 2));
                row.Add(r is null ? Missing : Format(r.BwtMean, 2));
                if (withReferenceSeconds)
                {
                    row.Add(r?.SecondsMean is double sec ? Format(sec, 1) : Missing);
                }
            }

            rows.Add(row.ToArray());
        }

        int columns = header.Count;
        int[] widths = Enumerable.Range(0, columns)
            .Select(c => Math.Max(header[c].Length, rows.Count == 0 ? 0 : rows.Max(r => r[c].Length)))
            .ToArray();

        var text = new StringBuilder();
        AppendLine(text, header.ToArray(), widths, referenceStart);
        AppendLine(text, widths.Select(w => new string('-', w)).ToArray(), widths, referenceStart);
        foreach (string[] row in rows)
        {
            AppendLine(text, row, widths, referenceStart);
        }

        return text.ToString();
    }

    private static void AppendLine(StringBuilder text, string[] cells, int[] widths, int referenceStart)
    {
        var line = new StringBuilder();
        for (int c = 0; c < cells.Length; c++)
        {
            if (c > 0)
            {
                line.Append(c == referenceStart ? ReferenceGap : ColumnGap);
            }

            // The method name reads left to right; figures line up on their last digit.
            line.Append(c == 0 ? cells[c].PadRight(widths[c]) : cells[c].PadLeft(widths[c]));
        }

        text.Append(line.ToString().TrimEnd()).Append(Environment.NewLine);
    }

    /// <summary>"mean ± sd" cells padded so that the ± signs of a column line up.</summary>
    private static string[] PlusMinus(IReadOnlyList<(double Mean, double Std)> values)
    {
        string[] means = values.Select(v => Format(v.Mean, 2)).ToArray();
        string[] stds = values.Select(v => Format(v.Std, 2)).ToArray();
        int meanWidth = means.Length == 0 ? 0 : means.Max(m => m.Length);
        int stdWidth = stds.Length == 0 ? 0 : stds.Max(m => m.Length);
        return means.Select((m, i) => $"{m.PadLeft(meanWidth)} ± {stds[i].PadLeft(stdWidth)}").ToArray();
    }

    private static string Throughput(double samplesPerSecond) =>
        samplesPerSecond == 0 ? Missing : Format(samplesPerSecond, 0);

    /// <summary>Rounds half away from zero first, as the report does, so 0.125 shows as 0.13 in both.</summary>
    private static string Format(double value, int decimals) =>
        double.IsFinite(value)
            ? Math.Round(value, decimals, MidpointRounding.AwayFromZero).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)
            : value.ToString(CultureInfo.InvariantCulture);
}
