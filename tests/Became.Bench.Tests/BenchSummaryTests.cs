using Became.Bench;

namespace Became.Bench.Tests;

public sealed class BenchSummaryTests
{
    [Fact]
    public void Population_std_divides_by_n_like_numpy_default()
    {
        // numpy: np.std([2, 4, 4, 4, 5, 5, 7, 9]) == 2.0 (ddof=0); the sample deviation would be 2.138.
        Assert.Equal(2.0, BenchSummary.PopulationStd([2, 4, 4, 4, 5, 5, 7, 9]), 12);
    }

    [Fact]
    public void Summary_takes_means_and_population_stds_over_seeds()
    {
        BenchSummary became = BenchSummary.Summarize(BenchSamples.TwoSeeds()).Single(s => s.Method == "became");

        // ACC 96.9167 and 96.6667; BWT -1 and -1; seconds 30.123 and 31.877; throughput 900/1100 and 500/700.
        Assert.Equal(new BenchSummary("became", 96.792, 0.125, -1, 0, 31, 1000, 600), became);
    }

    [Fact]
    public void Summary_std_of_three_seeds_matches_numpy_ddof_zero()
    {
        double[][] Rows(double last) => [[100, 0], [last, 90]];
        var results = new[]
        {
            BenchSamples.Result("gpm", 0, Rows(80)),
            BenchSamples.Result("gpm", 1, Rows(84)),
            BenchSamples.Result("gpm", 2, Rows(88)),
        };

        BenchSummary gpm = BenchSummary.Summarize(results).Single();

        // ACC = 85, 87, 89: mean 87, np.std = sqrt(8/3) = 1.633. BWT = -20, -16, -12: mean -16, np.std = 3.266.
        Assert.Equal(87, gpm.AccMean);
        Assert.Equal(1.633, gpm.AccStd);
        Assert.Equal(-16, gpm.BwtMean);
        Assert.Equal(3.266, gpm.BwtStd);
    }

    [Fact]
    public void Summary_keeps_the_order_methods_first_appear_in_runs()
    {
        double[][] rows = [[90]];
        var results = new[]
        {
            BenchSamples.Result("gpm", 0, rows),
            BenchSamples.Result("finetune", 0, rows),
            BenchSamples.Result("gpm", 1, rows),
            BenchSamples.Result("became", 0, rows),
            BenchSamples.Result("finetune", 1, rows),
        };

        Assert.Equal(["gpm", "finetune", "became"], BenchSummary.Summarize(results).Select(s => s.Method));
    }

    [Fact]
    public void Single_seed_has_zero_std()
    {
        BenchSummary only = BenchSummary.Summarize([BenchSamples.Result("finetune", 7, [[90, 0], [70, 95]])]).Single();

        Assert.Equal(0, only.AccStd);
        Assert.Equal(0, only.BwtStd);
    }
}
