using System.Diagnostics;

namespace Became.Bench.Tests;

/// <summary>bench/side-by-side.sh without its multi-minute runs: the message without the authors' code, the
/// interleaved order of the runs (--dry-run) and the table it writes from measurements (--table-from).</summary>
public sealed class SideBySideScriptTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("side-by-side-").FullName;

    [Fact]
    public void Without_the_authors_code_it_says_how_to_get_it_and_exits_2()
    {
        var (code, _, error) = Script("--official", Path.Combine(_folder, "missing"), "--dry-run");

        Assert.Equal(2, code);
        Assert.Contains("git clone https://github.com/ankur-bohra/BECAME", error, StringComparison.Ordinal);
        Assert.Contains("archive 859a267 GPM-based", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Dry_run_interleaves_the_reference_and_became_in_every_cell()
    {
        string official = Path.Combine(_folder, "BECAME");
        Directory.CreateDirectory(Path.Combine(official, "GPM-based"));
        File.WriteAllText(Path.Combine(official, "GPM-based", "gpm.py"), "");

        var (code, output, error) = Script("--official", official, "--seeds", "0,1", "--dry-run");

        Assert.True(code == 0, error);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] expected =
        [
            "ref split gpm seed 0", "became split gpm seed 0", "ref split gpm seed 1", "became split gpm seed 1",
            "ref split became seed 0", "became split became seed 0", "ref split became seed 1", "became split became seed 1",
            "ref permuted gpm seed 0", "became permuted gpm seed 0", "ref permuted gpm seed 1", "became permuted gpm seed 1",
            "ref permuted became seed 0", "became permuted became seed 0", "ref permuted became seed 1", "became permuted became seed 1",
        ];
        Assert.Equal(expected, lines.Select(l => l[..l.IndexOf(':', StringComparison.Ordinal)]));
        Assert.Contains("--stream permuted --method became --seed 1", lines[14], StringComparison.Ordinal);
        Assert.Contains("became-bench --stream permuted-fmnist --methods became --seeds 1 --threads 2", lines[15], StringComparison.Ordinal);
        Assert.Contains("GPM-based", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Table_gives_the_wall_time_ratio_cpu_rss_and_scores_per_cell()
    {
        string measurements = Path.Combine(_folder, "measurements.txt");
        File.WriteAllLines(measurements,
        [
            "split gpm 0 ref 43.10 78.00 3.00 665600 98.85 -0.12",
            "split gpm 0 became 8.00 15.00 1.00 614400 98.83 -0.16",
            "permuted became 0 ref 113.00 210.00 9.00 1141760 88.10 -1.20",
            "permuted became 0 became 20.00 36.00 2.00 1048576 88.50 -1.00",
        ]);

        var (code, output, error) = Script("--table-from", measurements);

        Assert.True(code == 0, error);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("| stream / method | seeds | reference wall s | Became wall s | ratio |", lines[0], StringComparison.Ordinal);
        Assert.Equal("| split gpm | 0 | 43.1 | 8.0 | **5.39** | 81.0 | 16.0 | 2.00 | 650 / 600 | 98.85 / 98.83 | -0.12 / -0.16 |", lines[2]);
        Assert.Equal("| permuted became | 0 | 113.0 | 20.0 | **5.65** | 219.0 | 38.0 | 1.90 | 1115 / 1024 | 88.10 / 88.50 | -1.20 / -1.00 |", lines[3]);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static (int Code, string Output, string Error) Script(params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(RepositoryRoot(), "bench", "side-by-side.sh"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment.Remove("BECAME_OFFICIAL");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "bench", "side-by-side.sh")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("bench/side-by-side.sh not found above " + AppContext.BaseDirectory);
    }
}
