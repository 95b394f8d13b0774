using System.Diagnostics;
using System.Text.Json;
using Became.Agent.Jobs;
using Became.Agent.Protocol;
using Became.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Serving;

/// <summary>
/// The status page in a real browser (Debian's chromium, headless, over the DevTools protocol) against a real agent
/// learning real split Fashion-MNIST tasks: the token's way in, no page errors, the version after a task, live
/// progress without a reload, the rollback button behind its confirmation, a clean stop with the page open.
/// Screenshots go to TestResults/status-page.png (and -phone.png, 400 px wide).
/// </summary>
[Trait("Speed", "Slow")]
public sealed class StatusPageBrowserTests(ITestOutputHelper output)
{
    private const string Token = "browser-token-0123456789";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(240);

    // Enough work per task that training lasts several seconds: the page must be seen moving while it runs.
    private const int Samples = 2000;
    private const int Epochs = 6;

    private static string Js(string text) => JsonSerializer.Serialize(text);

    private async Task WaitForVersionAsync(HeadlessChromium browser, int version) =>
        await browser.WaitUntilAsync($"document.getElementById('deployed-version').textContent === {Js("v" + version)}", Patience, $"the page shows v{version}");

    // The versions table is drawn again after each deployment: wait for the button, then click it (the confirmation
    // is accepted by the browser helper as it opens).
    private static async Task ClickDeployAsync(HeadlessChromium browser, int version)
    {
        string button = $"document.querySelector('button.deploy[data-version=\"{version}\"]')";
        await browser.WaitUntilAsync(button + " !== null", Patience, $"the deploy button of v{version}");
        await browser.EvaluateAsync(button + ".click()");
    }

    [Fact]
    public async Task Status_page_in_chromium_shows_the_model_live_and_rolls_back_without_errors()
    {
        int port = TestBrokers.FreePort();
        string address = $"http://127.0.0.1:{port}";
        // s0 waits after each of its first stage-1 epochs until the page has shown it, and s3 is held after its second
        // epoch, so the page is caught mid-training however fast the machine trains.
        using var hold = new HoldAfterSecondEpoch("s3", stepped: "s0");
        var agent = await AgentHarness.StartAsync(epochs: Epochs, services: s => s.AddSingleton<IJobCheckpoints>(hold), extraArgs: [$"--HttpUrls={address}", $"--HttpToken={Token}"]);
        await using var _ = agent;
        await using var browser = await HeadlessChromium.StartAsync(TimeSpan.FromSeconds(120));

        // The token: refused without it (the login form), refused with a wrong one, in with the right one, which
        // leaves the address bar.
        await browser.NavigateAsync(address + "/", Patience);
        await browser.WaitUntilAsync("document.getElementById('token') !== null", Patience, "the login form");
        await browser.NavigateAsync(address + "/?token=wrong", Patience);
        await browser.WaitUntilAsync("document.getElementById('wrong-token') !== null", Patience, "the wrong-token notice");
        browser.ClearErrors();
        await browser.NavigateAsync($"{address}/?token={Token}", Patience);
        await browser.WaitUntilAsync("location.pathname === '/' && location.search === '' && document.getElementById('connection').textContent === 'live'", Patience, "the page, live, at a clean address");
        Assert.Equal("none", await browser.TextAsync("deployed-version"));
        await browser.EvaluateAsync("window.sameDocument = true");

        // Live progress while the first task trains: the progress line must take several values without a reload. The job
        // waits after each of its first two epochs until the page shows that epoch (a 2-core machine trains s0 in 0.4 s).
        var clock = Stopwatch.StartNew();
        await agent.PublishTaskAsync("s0", AgentHarness.SplitTask(0, Samples));
        var labels = new List<string>();
        string rate = "–";
        for (int epoch = 1; epoch <= 2; epoch++)
        {
            await browser.WaitUntilAsync($"document.getElementById('progress-label').textContent.includes('epoch {epoch} /')", Patience, $"s0's epoch {epoch} on the page");
            labels.Add(await browser.TextAsync("progress-label"));
            rate = await browser.TextAsync("progress-rate");
            hold.Step();
        }

        await WaitForVersionAsync(browser, 1);
        output.WriteLine($"s0 learned in {clock.Elapsed.TotalSeconds:F1} s; progress seen on the page: {string.Join(" | ", labels)}; samples/s {rate}");
        Assert.True(labels.Count >= 2, "the progress line changed fewer than twice: " + string.Join(" | ", labels));
        Assert.Matches("^[0-9,]+$", rate);

        await agent.PublishTaskAsync("s1", AgentHarness.SplitTask(1, Samples));
        await agent.PublishTaskAsync("s2", AgentHarness.SplitTask(2, Samples));
        await WaitForVersionAsync(browser, 3);
        await browser.WaitUntilAsync("document.querySelectorAll('#accuracy-matrix tbody tr').length === 3 && document.querySelectorAll('#accuracy-matrix thead th').length === 4", Patience, "a 3 x 3 accuracy matrix");
        Assert.Equal(6, (await browser.EvaluateAsync("[...document.querySelectorAll('#accuracy-matrix tbody td')].filter(td => /^[0-9.]+$/.test(td.textContent)).length")).GetInt32());
        Assert.True((await browser.EvaluateAsync("document.querySelectorAll('#memory-ranks tbody tr').length")).GetInt32() > 0, "memory ranks per layer");

        // Rollback through the button: the confirmation is accepted, the device deploys v2 and the page says so.
        await ClickDeployAsync(browser, 2);
        await WaitForVersionAsync(browser, 2);
        await browser.WaitUntilAsync("document.getElementById('rollback-reply').textContent.includes('Version 2 is deployed')", Patience, "the rollback's reply");
        Assert.Contains(browser.Dialogs, d => d.StartsWith("Deploy version 2?", StringComparison.Ordinal));
        Assert.Equal(2, agent.Deployed.Current.Version);

        // And forward again to v3, so the task below extends the longest lineage (the screenshot's heatmap).
        await ClickDeployAsync(browser, 3);
        await WaitForVersionAsync(browser, 3);
        Assert.Equal(2, browser.Dialogs.Count);

        // A task on top of v3, caught mid-training for the screenshots (the lineage's heatmap, the live bar).
        await agent.PublishTaskAsync("s3", AgentHarness.SplitTask(3, Samples));
        await browser.WaitUntilAsync("document.getElementById('progress-label').textContent.includes('epoch 2 /')", Patience, "s3 training");
        string shots = Path.Combine(ToolProcess.RepositoryRoot, "TestResults");
        await browser.ScreenshotAsync(Path.Combine(shots, "status-page.png"), 1200, mobile: false);
        await browser.ScreenshotAsync(Path.Combine(shots, "status-page-phone.png"), 400, mobile: true);
        int overflow = (await browser.EvaluateAsync("document.documentElement.scrollWidth - window.innerWidth")).GetInt32();
        Assert.True(overflow <= 0, $"at 400 px the page is {overflow} px wider than the screen");
        output.WriteLine($"Screenshots: {Path.Combine(shots, "status-page.png")}, {Path.Combine(shots, "status-page-phone.png")}");
        hold.Release();

        await agent.WaitForAsync(EventTypes.ModelDeployed, "s3", Patience);
        await WaitForVersionAsync(browser, 4);
        await browser.WaitUntilAsync("document.querySelectorAll('#accuracy-matrix thead th').length === 5", Patience, "the lineage v1 to v4 in the heatmap");
        Assert.Equal(JsonValueKind.True, (await browser.EvaluateAsync("window.sameDocument === true")).ValueKind);
        Assert.True(browser.Errors.Count == 0, "The page reported errors:\n" + string.Join("\n", browser.Errors));

        // The agent stops in time with the page's stream open.
        clock.Restart();
        await agent.StopAgentAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"stopping took {clock.Elapsed.TotalSeconds:F1} s with the page open");
    }

    /// <summary>Holds one task's job after its second stage-1 epoch (its progress already sent) until released, and
    /// another's after each of its first two stage-1 epochs until the test steps it on.</summary>
    private sealed class HoldAfterSecondEpoch(string taskId, string stepped) : IJobCheckpoints, IDisposable
    {
        private readonly ManualResetEventSlim _released = new(false);
        private readonly SemaphoreSlim _steps = new(0);
        private int _epochs;
        private int _steppedEpochs;

        public void Reached(string point, string id, CancellationToken cancellationToken)
        {
            if (point != IJobCheckpoints.Stage1)
            {
                return;
            }

            if (id == stepped && Interlocked.Increment(ref _steppedEpochs) <= 2)
            {
                _steps.Wait(cancellationToken);
            }

            if (id == taskId && Interlocked.Increment(ref _epochs) == 2)
            {
                _released.Wait(cancellationToken);
            }
        }

        /// <summary>Lets the stepped task go on past the epoch it waits after.</summary>
        public void Step() => _steps.Release();

        public void Release() => _released.Set();

        public void Dispose()
        {
            _released.Set();
            _steps.Release(2);
            _released.Dispose();
        }
    }
}
