using Became.Bench;
using Became.Core.Evaluation;

namespace Became.Bench.Tests;

/// <summary>Hand-made run results with figures worked out by hand, and a larger synthetic bench for plots.</summary>
internal static class BenchSamples
{
    public static ContinualRunResult Result(
        string method,
        int seed,
        double[][] rows,
        double[]? coefficients = null,
        int[][]? ranks = null,
        double seconds = 10,
        double stage1 = 1000,
        double stage2 = 0) =>
        new(method, seed, new AccuracyMatrix(rows), coefficients ?? [], ranks ?? [], seconds, stage1, stage2);

    /// <summary>
    /// finetune: ACC 88 and 89.667 (mean 88.833, population sd 0.833), BWT -13.5 and -9.5 (mean -11.5, sd 2).
    /// became: ACC 96.917 and 96.667 (mean 96.792, sd 0.125), BWT -1 and -1 (mean -1, sd 0).
    /// </summary>
    public static IReadOnlyList<ContinualRunResult> TwoSeeds() =>
    [
        Result("finetune", 0, [[98, 0, 0], [90, 97, 0], [80, 88, 96]], seconds: 10, stage1: 1000),
        Result(
            "became", 0, [[98, 0, 0], [97, 97.5, 0], [96.5, 97, 97.25]],
            coefficients: [0.5, 1.0 / 3], ranks: [[10, 20], [15, 30], [18, 41]],
            seconds: 30.123, stage1: 900, stage2: 500),
        Result("finetune", 1, [[97, 0, 0], [91, 96, 0], [84, 90, 95]], seconds: 12, stage1: 1200),
        Result(
            "became", 1, [[98, 0, 0], [97, 97, 0], [97, 96, 97]],
            coefficients: [0.25, 0.75], ranks: [[11, 21], [16, 31], [19, 40]],
            seconds: 31.877, stage1: 1100, stage2: 700),
    ];

    public static BenchProtocol Protocol(string stream = "pmnist", IReadOnlyList<string>? methods = null, IReadOnlyList<int>? seeds = null) =>
        new(
            Stream: stream,
            Methods: methods ?? ["finetune", "became"],
            Seeds: seeds ?? [0, 1],
            Epochs: 5,
            BatchSize: 64,
            Lr: 0.01,
            Fisher: "exact",
            FisherLabels: "true",
            ProjectionSite: "inputs",
            Thresholds: [0.97, 0.99],
            SamplesForMemory: 300,
            Threads: 8,
            TrainPerTask: null,
            DataDirectory: "/data",
            Machine: "16 CPUs, Debian GNU/Linux 13 (x64), .NET 10.0.0",
            Libtorch: "2.10.0 cpu",
            StartedAt: new DateTimeOffset(2025, 11, 3, 9, 30, 0, TimeSpan.Zero));

    public static BenchReport TwoSeedReport() => BenchReport.Create(Protocol(), TwoSeeds());

    /// <summary>Ten tasks, three seeds: finetune forgets a lot, gpm a little, became and fixed merge.</summary>
    public static BenchReport TenTaskReport(bool withMerging = true)
    {
        string[] methods = withMerging ? ["finetune", "gpm", "became", "fixed"] : ["finetune", "gpm"];
        int[] seeds = [0, 1, 2];
        const int tasks = 10;
        var results = new List<ContinualRunResult>();
        foreach (int seed in seeds)
        {
            var random = new Random(seed);
            foreach (string method in methods)
            {
                (double forgetting, double plasticity) = method switch
                {
                    "finetune" => (5.5, 97.5),
                    "gpm" => (0.6, 95.0),
                    "became" => (0.25, 96.5),
                    _ => (0.5, 95.5),
                };
                var rows = new double[tasks][];
                for (int i = 0; i < tasks; i++)
                {
                    rows[i] = new double[tasks];
                    for (int j = 0; j <= i; j++)
                    {
                        rows[i][j] = Math.Min(100, plasticity - (forgetting * (i - j)) + (random.NextDouble() - 0.5));
                    }
                }

                double[] coefficients = method switch
                {
                    "became" => Enumerable.Range(1, tasks - 1).Select(t => 0.35 + (0.3 * t / tasks) + (0.05 * random.NextDouble())).ToArray(),
                    "fixed" => Enumerable.Repeat(0.5, tasks - 1).ToArray(),
                    _ => [],
                };
                results.Add(Result(method, seed, rows, coefficients, seconds: 100 + seed, stage1: 5000, stage2: coefficients.Length > 0 ? 3000 : 0));
            }
        }

        return BenchReport.Create(Protocol("pmnist", methods, seeds), results);
    }
}
