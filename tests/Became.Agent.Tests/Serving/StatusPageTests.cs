using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Became.Agent.Messaging;
using Became.Agent.Protocol;
using Became.Agent.Serving;
using Became.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Became.Agent.Tests.Serving;

/// <summary>The status page's server side against a real agent: the token rule on the page and its stream, the
/// event stream (history, live events, status, clean end at shutdown) and the samples/s of training.progress.</summary>
[Trait("Speed", "Slow")]
public sealed class StatusPageTests
{
    private const string Token = "page-token-0123456789";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    private static async Task<(AgentHarness Agent, Uri Address)> StartAsync(bool token, int epochs = 2, params string[] more)
    {
        int port = TestBrokers.FreePort();
        string[] args = token ? [$"--HttpUrls=http://127.0.0.1:{port}", $"--HttpToken={Token}", .. more] : [$"--HttpUrls=http://127.0.0.1:{port}", .. more];
        var agent = await AgentHarness.StartAsync(epochs: epochs, extraArgs: args);
        return (agent, new Uri($"http://127.0.0.1:{port}"));
    }

    private static HttpClient Client(Uri address, CookieContainer? cookies = null) =>
        new(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = cookies ?? new CookieContainer(), UseCookies = true }) { BaseAddress = address, Timeout = Patience };

    /// <summary>Reads server-sent events off a stream until <paramref name="done"/> says enough.</summary>
    private static async Task<List<(string Event, string Data, string? Id)>> ReadEventsAsync(Stream stream, Func<List<(string Event, string Data, string? Id)>, bool> done, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var events = new List<(string, string, string?)>();
        string type = "message";
        string? id = null;
        var data = new StringBuilder();
        while (!done(events))
        {
            string? line = await reader.ReadLineAsync(cts.Token) ?? throw new EndOfStreamException("The stream ended early: " + string.Join(" | ", events));
            if (line.Length == 0)
            {
                if (data.Length > 0)
                {
                    events.Add((type, data.ToString(), id));
                }

                (type, id) = ("message", null);
                data.Clear();
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line["event: ".Length..];
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line["id: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Append(line["data: ".Length..]);
            }
        }

        return events;
    }

    private static void Publish(AgentHarness agent, string taskId, double coefficient)
    {
        var feed = agent.Host.Services.GetRequiredService<EventFeed>();
        feed.Add(EventTypes.ModelMerged, taskId, DateTimeOffset.UtcNow, JsonSerializer.Serialize(new { type = EventTypes.ModelMerged, taskId, mergeCoefficient = coefficient }), new ModelMerged(coefficient));
    }

    [Fact]
    public async Task Status_names_the_device_groups_for_the_page()
    {
        var (agent, address) = await StartAsync(token: false, 2, "--Groups:0=line-1", "--Groups:1=hall-b");
        await using var _ = agent;
        using var http = Client(address);

        using var status = JsonDocument.Parse(await http.GetStringAsync("/status"));

        Assert.Equal(["line-1", "hall-b"], status.RootElement.GetProperty("groups").EnumerateArray().Select(g => g.GetString()));
    }

    [Fact]
    public async Task Event_stream_sends_the_recent_history_then_the_status_then_new_events()
    {
        var (agent, address) = await StartAsync(token: false);
        await using var _ = agent;
        using var http = Client(address);
        Publish(agent, "before-1", 0.1);
        Publish(agent, "before-2", 0.2);

        using var response = await http.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("no-cache", response.Headers.CacheControl!.ToString());
        await using var stream = await response.Content.ReadAsStreamAsync();
        var reading = ReadEventsAsync(stream, e => e.Any(x => x.Data.Contains("after-1", StringComparison.Ordinal)), Patience);
        await Eventually.TrueAsync(() => agent.Host.Services.GetRequiredService<EventFeed>().SubscriberCount == 1, "the stream subscribed", Patience);
        Publish(agent, "after-1", 0.3);
        var events = await reading;

        var messages = events.Where(e => e.Event == "message").Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("taskId").GetString()).ToList();
        Assert.Equal(["before-1", "before-2", "after-1"], messages.Where(m => m is "before-1" or "before-2" or "after-1"));
        Assert.All(events.Where(e => e.Event == "message"), e => Assert.NotNull(e.Id));
        var status = JsonDocument.Parse(events.First(e => e.Event == "status").Data).RootElement;
        Assert.Equal("idle", status.GetProperty("state").GetString());
        Assert.Equal(0, status.GetProperty("deployedVersion").GetInt32());
        Assert.True(events.FindIndex(e => e.Event == "status") > events.FindIndex(e => e.Data.Contains("before-2", StringComparison.Ordinal)), "history comes first");
    }

    [Fact]
    public async Task A_reconnecting_page_gets_only_the_events_after_its_last_event_id()
    {
        var (agent, address) = await StartAsync(token: false);
        await using var _ = agent;
        using var http = Client(address);
        Publish(agent, "seen", 0.1);
        long seen = agent.Host.Services.GetRequiredService<EventFeed>().Recent()[^1].Sequence;
        Publish(agent, "missed", 0.2);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/events");
        request.Headers.Add("Last-Event-ID", seen.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var events = await ReadEventsAsync(await response.Content.ReadAsStreamAsync(), e => e.Any(x => x.Event == "status"), Patience);

        Assert.Equal(["missed"], events.Where(e => e.Event == "message").Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("taskId").GetString()));
    }

    [Fact]
    public async Task Page_and_stream_need_the_token_and_a_browser_gets_in_once_through_the_address()
    {
        var (agent, address) = await StartAsync(token: true);
        await using var _ = agent;
        var cookies = new CookieContainer();
        using var http = Client(address, cookies);

        // Refused without the token: the page answers with its login form, the rest with a bare 401.
        using (var page = await http.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, page.StatusCode);
            Assert.Contains("name=\"token\"", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        foreach (string path in (string[])["/events", "/status", "/ui/app.js", "/models"])
        {
            using var refused = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        using (var wrong = await http.GetAsync("/?token=not-the-token"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.Contains("wrong-token", await wrong.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Empty(cookies.GetAllCookies());
        }

        // The right token once: a cookie (HttpOnly, SameSite=Strict, not the token itself) and a redirect that drops it.
        using (var login = await http.GetAsync($"/?token={Token}"))
        {
            Assert.Equal(HttpStatusCode.SeeOther, login.StatusCode);
            Assert.Equal("/", login.Headers.Location!.OriginalString);
            string setCookie = login.Headers.GetValues("Set-Cookie").Single();
            Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(Token, setCookie, StringComparison.Ordinal);
        }

        using (var page = await http.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("accuracy-matrix", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        }

        using (var status = await http.GetAsync("/status"))
        {
            Assert.Equal(HttpStatusCode.OK, status.StatusCode);
            Assert.Equal("idle", JsonDocument.Parse(await status.Content.ReadAsStringAsync()).RootElement.GetProperty("state").GetString());
        }

        using (var stream = await http.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        }

        // A cookie alone never authorises a change: the page's POSTs carry its header (cross-site forms cannot).
        using (var forged = await http.PostAsync("/models/1/deploy", null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        }

        using (var request = new HttpRequestMessage(HttpMethod.Post, "/models/1/deploy"))
        {
            request.Headers.Add(StatusPage.PageHeader, "1");
            using var fromPage = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.NotFound, fromPage.StatusCode);
        }

        // The bearer header still opens everything, the page included.
        using var scripted = Client(address);
        scripted.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var withBearer = await scripted.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, withBearer.StatusCode);
    }

    [Fact]
    public async Task Agent_stops_within_its_shutdown_time_while_a_page_streams_events()
    {
        var (agent, address) = await StartAsync(token: false);
        await using var _ = agent;
        using var http = Client(address);
        using var response = await http.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        await ReadEventsAsync(stream, e => e.Any(x => x.Event == "status"), Patience);

        var clock = Stopwatch.StartNew();
        await agent.StopAgentAsync();
        clock.Stop();

        // The harness runs with ShutdownSeconds=10; the stream must end by itself, not hold Kestrel to the limit.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"stopping took {clock.Elapsed.TotalSeconds:F1} s with a stream open");
        using var end = new CancellationTokenSource(Patience);
        var rest = new byte[4096];
        while (await stream.ReadAsync(rest, end.Token) > 0)
        {
        }
    }

    [Fact]
    public async Task Training_progress_reports_samples_per_second_and_models_list_memory_ranks()
    {
        var (agent, address) = await StartAsync(token: false);
        await using var _ = agent;
        using var http = Client(address);
        await agent.PublishTaskAsync("sps", AgentHarness.SplitTask(0, 300));
        await agent.WaitForAsync(EventTypes.ModelDeployed, "sps", Patience);

        var progress = agent.Events.Where(e => AgentHarness.Type(e) == EventTypes.TrainingProgress).ToList();
        Assert.NotEmpty(progress);
        Assert.All(progress, p =>
        {
            Assert.True(p.GetProperty("samplesPerSecond").GetDouble() > 0, p.GetRawText());
            Assert.True(p.TryGetProperty("loss", out var _) && p.TryGetProperty("validationAccuracy", out var _) && p.TryGetProperty("epochs", out var _), p.GetRawText());
        });
        var models = JsonDocument.Parse(await http.GetStringAsync("/models")).RootElement;
        Assert.NotEmpty(models[0].GetProperty("memoryRanks").EnumerateArray());
        Assert.True(models[0].GetProperty("trainingSeconds").GetDouble() > 0);
    }
}
