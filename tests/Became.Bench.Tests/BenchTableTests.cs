using Became.Bench;

namespace Became.Bench.Tests;

public sealed class BenchTableTests
{
    private static string[] Lines(string table) =>
        table.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Table_has_a_row_for_each_method_in_summary_order()
    {
        string[] lines = Lines(BenchTable.Render(BenchSamples.TwoSeedReport()));

        Assert.Equal(4, lines.Length);
        Assert.StartsWith("finetune", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("became", lines[3], StringComparison.Ordinal);
    }

    [Fact]
    public void Table_shows_acc_and_bwt_as_mean_plus_minus_std()
    {
        string table = BenchTable.Render(BenchSamples.TwoSeedReport());

        Assert.Contains("88.83 ± 0.83", table, StringComparison.Ordinal);
        Assert.Contains("-11.50 ± 2.00", table, StringComparison.Ordinal);
        Assert.Contains("96.79 ± 0.13", table, StringComparison.Ordinal);
        Assert.Contains("-1.00 ± 0.00", table, StringComparison.Ordinal);
    }

    [Fact]
    public void Table_shows_seconds_and_throughputs_with_a_dash_for_no_stage_two()
    {
        string[] lines = Lines(BenchTable.Render(BenchSamples.TwoSeedReport()));

        Assert.EndsWith("11.0               1100                  —", lines[2], StringComparison.Ordinal);
        Assert.EndsWith("31.0               1000                600", lines[3], StringComparison.Ordinal);
    }

    [Fact]
    public void Table_columns_line_up_for_monospace()
    {
        string[] lines = Lines(BenchTable.Render(BenchSamples.TenTaskReport()));

        Assert.All(lines, l => Assert.Equal(lines[0].Length, l.Length));
        int plusMinus = lines[2].IndexOf('±', StringComparison.Ordinal);
        Assert.All(lines.Skip(2), l => Assert.Equal(plusMinus, l.IndexOf('±', StringComparison.Ordinal)));
    }

    [Fact]
    public void Reference_figures_appear_beside_ours_with_a_dash_for_methods_without_one()
    {
        var reference = new Dictionary<string, BenchReference>
        {
            ["became"] = new(97.12, -0.45, 1234.5),
        };

        string[] lines = Lines(BenchTable.Render(BenchSamples.TwoSeedReport(), reference));

        Assert.Contains("ref ACC %", lines[0], StringComparison.Ordinal);
        Assert.EndsWith("|          —          —          —", lines[2], StringComparison.Ordinal);
        Assert.EndsWith("|      97.12      -0.45     1234.5", lines[3], StringComparison.Ordinal);
    }

    [Fact]
    public void Reference_seconds_column_is_left_out_when_no_reference_gives_seconds()
    {
        var reference = new Dictionary<string, BenchReference> { ["became"] = new(97.12, -0.45) };

        string header = Lines(BenchTable.Render(BenchSamples.TwoSeedReport(), reference))[0];

        Assert.Contains("ref BWT %", header, StringComparison.Ordinal);
        Assert.DoesNotContain("ref s/run", header, StringComparison.Ordinal);
    }

    [Fact]
    public void Table_without_reference_has_no_reference_columns()
    {
        string table = BenchTable.Render(BenchSamples.TwoSeedReport());

        Assert.DoesNotContain("ref", table, StringComparison.Ordinal);
        Assert.DoesNotContain("|", table, StringComparison.Ordinal);
    }
}
