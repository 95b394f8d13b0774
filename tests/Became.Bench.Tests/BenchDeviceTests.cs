using Became.Bench;

namespace Became.Bench.Tests;

/// <summary><c>became bench --device</c>: parsed, recorded in the report, and refused when it cannot be honoured.</summary>
public sealed class BenchDeviceTests
{
    [Fact]
    public void Device_defaults_to_the_cpu_and_takes_the_device_settings()
    {
        Assert.Equal("cpu", BenchOptions.Parse([]).Device);
        Assert.Equal("cuda:1", BenchOptions.Parse(["--device", "cuda:1"]).Device);
        var error = Assert.Throws<ArgumentException>(() => BenchOptions.Parse(["--device", "gpu"]));
        Assert.Contains("auto, cpu, cuda, cuda:N", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_on_cuda_without_cuda_stops_with_the_reason_before_training()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        int code = BenchCommand.Run(["--device", "cuda", "--methods", "gpm", "--seeds", "0", "--tasks", "1", "--epochs", "1"], output, error, CancellationToken.None);

        Assert.Equal(2, code);
        Assert.Contains("CUDA is not available", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public void Bench_report_records_the_device_and_the_libtorch_build()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        string json = Path.Combine(Path.GetTempPath(), $"became-bench-device-{Guid.NewGuid():N}.json");
        try
        {
            int code = BenchCommand.Run(["--device", "auto", "--methods", "finetune", "--seeds", "0", "--tasks", "1", "--epochs", "1", "--json", json], output, error, CancellationToken.None);

            Assert.True(code == 0, error.ToString());
            using var report = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
            var protocol = report.RootElement.GetProperty("protocol");
            Assert.Equal("cpu", protocol.GetProperty("device").GetString());
            Assert.Matches(@"^libtorch \d+\.\d+[\d.]* \(cpu build\)$", protocol.GetProperty("libtorch").GetString());
            Assert.Contains("falling back to the CPU", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(json);
        }
    }
}
