using System.Text.Json;
using Became.Bench;
using Became.Core.Evaluation;

namespace Became.Bench.Tests;

public sealed class BenchReportJsonTests
{
    private static JsonElement Parse(BenchReport report)
    {
        using var document = JsonDocument.Parse(BenchReportJson.Serialize(report));
        return document.RootElement.Clone();
    }

    private static string[] Names(JsonElement element) => element.EnumerateObject().Select(p => p.Name).ToArray();

    [Fact]
    public void Report_has_exactly_protocol_runs_and_summary_at_the_top()
    {
        JsonElement root = Parse(BenchSamples.TwoSeedReport());

        Assert.Equal(["protocol", "runs", "summary"], Names(root));
    }

    [Fact]
    public void Protocol_has_exactly_the_camel_case_setting_names()
    {
        JsonElement protocol = Parse(BenchSamples.TwoSeedReport()).GetProperty("protocol");

        Assert.Equal(
            [
                "stream", "methods", "seeds", "epochs", "batchSize", "lr", "fisher", "fisherLabels", "projectionSite", "thresholds",
                "samplesForMemory", "threads", "trainPerTask", "dataDirectory", "machine", "libtorch", "startedAt",
                "model", "projection", "thresholdIncrement", "layerSamples", "sgpScale", "device", "inputShape", "initialWeights",
            ],
            Names(protocol));
    }

    [Fact]
    public void Protocol_values_are_written_as_given()
    {
        JsonElement protocol = Parse(BenchSamples.TwoSeedReport()).GetProperty("protocol");

        Assert.Equal("pmnist", protocol.GetProperty("stream").GetString());
        Assert.Equal(["finetune", "became"], protocol.GetProperty("methods").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal([0, 1], protocol.GetProperty("seeds").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(64, protocol.GetProperty("batchSize").GetInt32());
        Assert.Equal(0.01, protocol.GetProperty("lr").GetDouble());
        Assert.Equal("exact", protocol.GetProperty("fisher").GetString());
        Assert.Equal("true", protocol.GetProperty("fisherLabels").GetString());
        Assert.Equal([0.97, 0.99], protocol.GetProperty("thresholds").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(300, protocol.GetProperty("samplesForMemory").GetInt32());
        Assert.Equal(JsonValueKind.Null, protocol.GetProperty("trainPerTask").ValueKind);
        Assert.Equal(
            new DateTimeOffset(2025, 11, 3, 9, 30, 0, TimeSpan.Zero),
            protocol.GetProperty("startedAt").GetDateTimeOffset());
    }

    [Fact]
    public void Each_run_has_exactly_the_run_field_names()
    {
        JsonElement runs = Parse(BenchSamples.TwoSeedReport()).GetProperty("runs");

        Assert.Equal(4, runs.GetArrayLength());
        foreach (JsonElement run in runs.EnumerateArray())
        {
            Assert.Equal(
                [
                    "method", "seed", "acc", "bwt", "accMatrix", "mergeCoefficients", "memoryRanks", "seconds",
                    "stage1SamplesPerSecond", "stage2SamplesPerSecond", "taskAgnostic",
                ],
                Names(run));
        }
    }

    [Fact]
    public void Run_values_are_percent_rounded_to_three_decimals_with_coefficients_to_four()
    {
        JsonElement run = Parse(BenchSamples.TwoSeedReport()).GetProperty("runs")[1];

        Assert.Equal("became", run.GetProperty("method").GetString());
        Assert.Equal(0, run.GetProperty("seed").GetInt32());
        Assert.Equal(96.917, run.GetProperty("acc").GetDouble());
        Assert.Equal(-1, run.GetProperty("bwt").GetDouble());
        Assert.Equal([96.5, 97, 97.25], run.GetProperty("accMatrix")[2].EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal([0.5, 0.3333], run.GetProperty("mergeCoefficients").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal([18, 41], run.GetProperty("memoryRanks")[2].EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(30.12, run.GetProperty("seconds").GetDouble());
        Assert.Equal(900, run.GetProperty("stage1SamplesPerSecond").GetDouble());
        Assert.Equal(500, run.GetProperty("stage2SamplesPerSecond").GetDouble());
    }

    [Fact]
    public void Answers_without_a_task_id_are_written_per_run_and_averaged_in_the_summary()
    {
        var runs = BenchSamples.TwoSeeds().Select((r, i) => r with { TaskAgnostic = new TaskAgnosticScores(70 + i + 0.12345, 71 + i, 40, 41, 76, 77) }).ToList();

        JsonElement report = Parse(BenchReport.Create(BenchSamples.Protocol(), runs));

        JsonElement agnostic = report.GetProperty("runs")[1].GetProperty("taskAgnostic");
        Assert.Equal(
            ["accuracy", "taskIdAccuracy", "maxSoftmaxAccuracy", "energyAccuracy", "recomputedAccuracy", "recomputedTaskIdAccuracy"],
            Names(agnostic));
        Assert.Equal(71.123, agnostic.GetProperty("accuracy").GetDouble());
        JsonElement became = report.GetProperty("summary")[1];
        Assert.Equal(72.123, became.GetProperty("taskAgnosticAccMean").GetDouble());
        Assert.Equal(73, became.GetProperty("taskIdAccMean").GetDouble());
        Assert.Contains("no-task-id ACC %", BenchTable.Render(BenchReport.Create(BenchSamples.Protocol(), runs)));
        Assert.DoesNotContain("no-task-id", BenchTable.Render(BenchSamples.TwoSeedReport()));
    }

    [Fact]
    public void Run_without_merging_or_memory_writes_empty_arrays()
    {
        JsonElement run = Parse(BenchSamples.TwoSeedReport()).GetProperty("runs")[0];

        Assert.Equal("finetune", run.GetProperty("method").GetString());
        Assert.Equal(0, run.GetProperty("mergeCoefficients").GetArrayLength());
        Assert.Equal(0, run.GetProperty("memoryRanks").GetArrayLength());
        Assert.Equal(0, run.GetProperty("stage2SamplesPerSecond").GetDouble());
    }

    [Fact]
    public void Each_summary_has_exactly_the_summary_field_names_and_values()
    {
        JsonElement summary = Parse(BenchSamples.TwoSeedReport()).GetProperty("summary");

        Assert.Equal(2, summary.GetArrayLength());
        JsonElement finetune = summary[0];
        Assert.Equal(
            [
                "method", "accMean", "accStd", "bwtMean", "bwtStd", "secondsMean", "stage1SamplesPerSecondMean",
                "stage2SamplesPerSecondMean", "taskAgnosticAccMean", "taskIdAccMean",
            ],
            Names(finetune));
        Assert.Equal("finetune", finetune.GetProperty("method").GetString());
        Assert.Equal(88.833, finetune.GetProperty("accMean").GetDouble());
        Assert.Equal(0.833, finetune.GetProperty("accStd").GetDouble());
        Assert.Equal(-11.5, finetune.GetProperty("bwtMean").GetDouble());
        Assert.Equal(2, finetune.GetProperty("bwtStd").GetDouble());
        Assert.Equal(11, finetune.GetProperty("secondsMean").GetDouble());
        Assert.Equal(1100, finetune.GetProperty("stage1SamplesPerSecondMean").GetDouble());
        Assert.Equal(0, finetune.GetProperty("stage2SamplesPerSecondMean").GetDouble());
    }

    [Fact]
    public void Written_report_reads_back_equal()
    {
        string path = Path.Combine(Path.GetTempPath(), "became-agent-tests", $"report-{Guid.NewGuid():N}.json");
        BenchReport report = BenchSamples.TwoSeedReport();

        BenchReportJson.Write(report, path);
        BenchReport back = BenchReportJson.Read(path);
        File.Delete(path);

        Assert.Equal(BenchReportJson.Serialize(report), BenchReportJson.Serialize(back));
        Assert.Equal(report.Summary, back.Summary);
    }

    [Fact]
    public void Json_is_indented()
    {
        string json = BenchReportJson.Serialize(BenchSamples.TwoSeedReport());

        Assert.StartsWith("{" + Environment.NewLine + "  \"protocol\": {", json, StringComparison.Ordinal);
    }
}
