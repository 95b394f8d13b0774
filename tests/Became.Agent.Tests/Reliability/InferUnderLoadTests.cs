using System.Text.RegularExpressions;
using Became.Agent.Hosting;
using Became.Cli.Tools;
using Became.Agent.Jobs;
using Became.Agent.Tests.Agent;
using Became.Agent.Tests.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Reliability;

/// <summary><c>became bench-infer</c> against a real agent while it trains: a benchmark's plumbing, not a timed test.</summary>
[Trait("Speed", "Slow")]
public sealed class InferUnderLoadTests(ITestOutputHelper output)
{
    private const string Token = "bench-token-0123456789";

    [Theory]
    [InlineData("http")]
    [InlineData("mqtt")]
    public async Task Bench_infer_reports_throughput_and_latency_percentiles_while_a_job_trains(string transport)
    {
        int httpPort = TestBrokers.FreePort();
        // Up to 100 epochs per stage, as bench/infer-under-load.sh: the 12,000-image job must outlast the 3 s benchmark even
        // on an idle machine (with 5 epochs it could finish first).
        await using var agent = await AgentHarness.StartAsync(epochs: 100, extraArgs: [$"--HttpUrls=http://127.0.0.1:{httpPort}", $"--HttpToken={Token}"]);
        await agent.PublishTaskAsync("load-0", AgentHarness.SplitTask(0, 300));
        await agent.WaitForAsync("model.deployed", "load-0");
        await agent.PublishTaskAsync("load-1", AgentHarness.SplitTask(1, 12000));
        var worker = agent.Host.Services.GetRequiredService<TrainingWorker>();
        await Eventually.TrueAsync(() => worker.Status().State == "training", "the second job is training", TimeSpan.FromSeconds(60));

        using var report = new StringWriter();
        string[] target = transport == "http"
            ? ["--http", $"http://127.0.0.1:{httpPort}/", "--token", Token]
            : ["--broker", $"{agent.BrokerHost}:{agent.BrokerPort}", "--device", agent.DeviceId];
        int exit = await InferBenchCommand.RunAsync([.. target, "--task", "load-0", "--rate", "20", "--seconds", "3"], report, report, CancellationToken.None);
        bool trainedThroughout = worker.Status().State == "training";

        output.WriteLine(report.ToString());
        Assert.Equal(0, exit);
        Assert.True(trainedThroughout, "the job was still training when the benchmark ended");
        var figures = Regex.Match(report.ToString(), @"60 ok, 0 failed\nthroughput (?<rps>[0-9.]+) req/s; latency p50 (?<p50>[0-9.]+) ms, p99 (?<p99>[0-9.]+) ms");
        Assert.True(figures.Success, report.ToString());
        Assert.InRange(double.Parse(figures.Groups["rps"].Value, System.Globalization.CultureInfo.InvariantCulture), 5, 21);
        Assert.True(double.Parse(figures.Groups["p99"].Value, System.Globalization.CultureInfo.InvariantCulture) >= double.Parse(figures.Groups["p50"].Value, System.Globalization.CultureInfo.InvariantCulture));
    }
}
