using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Became.Core.Data;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Observability;

/// <summary>
/// A real agent (embedded broker, LiteDB, Fashion-MNIST) that learned two split tasks, refused a task that is not a
/// safetensors file, and answered one inference over HTTP, one over MQTT and one MQTT request for an unknown task;
/// then its GET /metrics, read once for the tests of <see cref="MetricsTests"/>.
/// </summary>
public sealed class LearnedAgentScrape : IAsyncLifetime
{
    public const string Token = "metrics-token-0123456789";
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    public AgentHarness Agent { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public string Text { get; private set; } = "";

    public PrometheusScrape Scrape { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        int port = TestBrokers.FreePort();
        Agent = await AgentHarness.StartAsync(extraArgs: [$"--HttpUrls=http://127.0.0.1:{port}", $"--HttpToken={Token}"]);
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        await Agent.PublishTaskAsync("junk", Encoding.UTF8.GetBytes("this is not a safetensors file"));
        await Agent.WaitForAsync("task.rejected", "junk", Patience);
        await Agent.PublishTaskAsync("s0", AgentHarness.SplitTask(0, 300));
        await Agent.PublishTaskAsync("s1", AgentHarness.SplitTask(1, 300));
        await Agent.WaitForAsync("model.deployed", "s1", Patience);

        byte[] request = InferRequest("s0", 0, 10);
        await MqttRequest.SendAsync(Agent, "infer", request);
        using (var response = await Http.PostAsync("/infer", new ByteArrayContent(request)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await MqttRequest.SendAsync(Agent, "infer", InferRequest("nope", 0, 1));

        Text = await Http.GetStringAsync("/metrics");
        Scrape = PrometheusScrape.Parse(Text);
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (Agent is not null)
        {
            await Agent.DisposeAsync();
        }
    }

    private static byte[] InferRequest(string taskId, int task, int count)
    {
        var dataset = ImageClassificationDataset.Load();
        var rows = Enumerable.Range(0, dataset.Test.Count).Where(i => dataset.Test.Label(i) / 2 == task).Take(count).ToList();
        var inputs = rows.Select(r => dataset.Test.Image(r).ToArray().Select(b => Math.Round(b / 255.0, 6)).ToArray()).ToArray();
        return JsonSerializer.SerializeToUtf8Bytes(new { taskId, inputs });
    }
}

/// <summary>GET /metrics in Prometheus text after real work, its token rule, and the Grafana dashboard's queries.</summary>
[Trait("Speed", "Slow")]
public sealed class MetricsTests(LearnedAgentScrape agent, ITestOutputHelper output) : IClassFixture<LearnedAgentScrape>
{
    private static string DashboardPath => Path.Combine(ToolProcess.RepositoryRoot, "deploy", "grafana", "became-dashboard.json");

    [Fact]
    public void Metrics_report_the_deployed_model_and_its_accuracy_per_task()
    {
        var scrape = agent.Scrape;
        output.WriteLine(agent.Text);

        Assert.Equal(2, scrape.Value("became_deployed_version"));
        Assert.Equal(2, scrape.Value("became_deployed_tasks"));
        Assert.Equal(0, scrape.Value("became_queue_length"));
        Assert.Equal(1, scrape.Value("became_state", ("state", "idle")));
        Assert.Equal(0, scrape.Value("became_state", ("state", "training")));
        foreach (string task in new[] { "s0", "s1" })
        {
            double accuracy = scrape.Value("became_deployed_accuracy_ratio", ("task", task));
            Assert.InRange(accuracy, double.Epsilon, 1);
            Assert.Equal(agent.Agent.Store.Deployed()!.Accuracy[task] / 100, accuracy, 9);
        }

        Assert.Equal(agent.Agent.Store.Deployed()!.MergeCoefficient!.Value, scrape.Value("became_deployed_merge_coefficient"), 9);
        Assert.Equal(1, scrape.Value("became_build_info", ("backend", Became.Core.Native.TorchBackendInfo.BuildBackend), ("device", "cpu")));
        Assert.Equal(1, scrape.Value("became_mqtt_connected"));
        Assert.Equal(0, scrape.Value("became_mqtt_outbox_length"));
        Assert.Equal(0, scrape.Value("became_mqtt_reconnects_total"));
    }

    [Fact]
    public void Metrics_count_tasks_by_outcome_and_time_the_training()
    {
        var scrape = agent.Scrape;

        Assert.Equal(2, scrape.Value("became_tasks_accepted_total"));
        Assert.Equal(2, scrape.Value("became_tasks_learned_total"));
        Assert.Equal(1, scrape.Value("became_tasks_rejected_total", ("reason", "not_safetensors")));
        Assert.Equal(0, scrape.Value("became_tasks_failed_total", ("reason", "error")));
        Assert.Equal(2, scrape.Value("became_training_duration_seconds_count"));
        Assert.True(scrape.Value("became_training_duration_seconds_sum") > 0);
        Assert.Equal(2, scrape.Value("became_training_duration_seconds_bucket", ("le", "+Inf")));
        Assert.True(scrape.Value("became_training_samples_per_second", ("stage", "1")) > 0);
    }

    [Fact]
    public void Metrics_count_and_time_inference_by_transport()
    {
        var scrape = agent.Scrape;

        Assert.Equal(1, scrape.Value("became_inference_duration_seconds_count", ("transport", "http")));
        Assert.Equal(1, scrape.Value("became_inference_duration_seconds_count", ("transport", "mqtt")));
        Assert.InRange(scrape.Value("became_inference_duration_seconds_sum", ("transport", "http")), double.Epsilon, 30);
        Assert.Equal(1, scrape.Value("became_inference_errors_total", ("transport", "mqtt"), ("error", "unknown_task")));
        Assert.Empty(scrape.Find("became_inference_errors_total", ("transport", "http")));
    }

    [Fact]
    public void Metrics_carry_the_runtime_and_process_memory_under_prometheus_names()
    {
        var scrape = agent.Scrape;

        Assert.True(scrape.Value("process_resident_memory_bytes") > 50_000_000);
        Assert.NotEmpty(scrape.Find("dotnet_gc_collections_total"));
        Assert.NotEmpty(scrape.Find("dotnet_gc_last_collection_heap_size_bytes"));
        Assert.Equal("counter", scrape.Types["became_tasks_learned_total"]);
        Assert.Equal("histogram", scrape.Types["became_inference_duration_seconds"]);
        Assert.Equal("gauge", scrape.Types["became_deployed_accuracy_ratio"]);

        // Prometheus conventions: counters end in _total, no otel_scope labels on every series, help on every family.
        Assert.All(scrape.Types.Where(t => t.Value == "counter"), t => Assert.EndsWith("_total", t.Key));
        Assert.DoesNotContain(scrape.Samples, s => s.Labels.ContainsKey("otel_scope_name"));
        Assert.All(scrape.Types.Keys.Where(k => k != "target_info"), k => Assert.False(string.IsNullOrWhiteSpace(scrape.Help.GetValueOrDefault(k)), $"{k} has no help"));
    }

    [Fact]
    public async Task Metrics_need_the_token_when_one_is_set()
    {
        using var anonymous = new HttpClient { BaseAddress = agent.Http.BaseAddress };
        using var wrong = new HttpClient { BaseAddress = agent.Http.BaseAddress };
        wrong.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token");

        using var refused = await anonymous.GetAsync("/metrics");
        using var refusedWrong = await wrong.GetAsync("/metrics");
        using var served = await agent.Http.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
        Assert.DoesNotContain("became_", await refused.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, refusedWrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal("text/plain", served.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public void Dashboard_is_a_grafana_dashboard_whose_queries_name_metrics_the_agent_exports()
    {
        var dashboard = JsonDocument.Parse(File.ReadAllText(DashboardPath)).RootElement;
        var names = agent.Scrape.Names;

        Assert.Equal("DS_PROMETHEUS", dashboard.GetProperty("__inputs")[0].GetProperty("name").GetString());
        Assert.True(dashboard.GetProperty("schemaVersion").GetInt32() >= 39);
        Assert.False(string.IsNullOrEmpty(dashboard.GetProperty("uid").GetString()));
        var queries = Queries(dashboard).ToList();
        Assert.True(queries.Count >= 15, $"{queries.Count} queries");
        var panels = dashboard.GetProperty("panels").EnumerateArray().Where(p => p.GetProperty("type").GetString() != "row").ToList();
        Assert.All(panels, p =>
        {
            Assert.Equal("${DS_PROMETHEUS}", p.GetProperty("datasource").GetProperty("uid").GetString());
            Assert.True(p.GetProperty("gridPos").GetProperty("w").GetInt32() > 0);
            Assert.NotEqual(0, p.GetProperty("targets").GetArrayLength());
        });
        Assert.Equal(panels.Count, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());

        var missing = queries.SelectMany(q => PromQl.MetricNames(q.Expr).Where(n => !names.Contains(n)).Select(n => $"{q.Panel}: {n}")).ToList();
        Assert.True(missing.Count == 0, "the dashboard queries metrics the agent does not export: " + string.Join("; ", missing));
        Assert.Contains("became_deployed_accuracy_ratio", queries.SelectMany(q => PromQl.MetricNames(q.Expr)));
    }

    [Fact]
    public void The_dashboard_check_sees_a_metric_that_does_not_exist()
    {
        var read = PromQl.MetricNames("histogram_quantile(0.95, sum by (transport, le) (rate(became_inference_duration_seconds_bucket{instance=~\"$instance\"}[$__rate_interval]))) / on (job) became_nonexistent_total offset 5m");

        Assert.Equal(new HashSet<string> { "became_inference_duration_seconds_bucket", "became_nonexistent_total" }, read);
        Assert.DoesNotContain("became_nonexistent_total", agent.Scrape.Names);
    }

    private static IEnumerable<(string Panel, string Expr)> Queries(JsonElement dashboard)
    {
        foreach (var panel in dashboard.GetProperty("panels").EnumerateArray())
        {
            if (panel.TryGetProperty("targets", out var targets))
            {
                foreach (var target in targets.EnumerateArray())
                {
                    yield return (panel.GetProperty("title").GetString()!, target.GetProperty("expr").GetString()!);
                }
            }
        }

        foreach (var variable in dashboard.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            // label_values(metric, label): the metric is the first argument.
            string definition = variable.GetProperty("definition").GetString()!;
            yield return ("variable " + variable.GetProperty("name").GetString(), definition.Replace("label_values(", "(", StringComparison.Ordinal).Split(',')[0] + ")");
        }
    }
}
