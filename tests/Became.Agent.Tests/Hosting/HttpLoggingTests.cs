// Not ...Tests.Hosting: that namespace would shadow Became.Agent.Hosting in tests that write Hosting.AgentHost.
namespace Became.Agent.Tests.HostingChecks;

/// <summary>What the console of the real agent shows while it serves HTTP.</summary>
[Trait("Speed", "Slow")]
public sealed class HttpLoggingTests
{
    [Fact]
    public async Task Http_requests_add_no_aspnetcore_lines_to_the_console_by_default()
    {
        string data = Directory.CreateTempSubdirectory("became-httplog-").FullName;
        try
        {
            string url = $"http://127.0.0.1:{TestBrokers.FreePort()}";
            await using var agent = AgentProcess.Start(data, null, "--http-urls", url);
            Assert.NotNull(await agent.LineContainingAsync("HTTP on", TimeSpan.FromSeconds(60)));
            using var http = new HttpClient { BaseAddress = new Uri(url) };
            foreach (string path in new[] { "/healthz", "/models", "/tasks", "/no-such-page" })
            {
                using var response = await http.GetAsync(path);
            }

            // The output is complete once the process has exited.
            await agent.TerminateAsync();
            Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));

            // ASP.NET Core logs about six Information lines per request; only its warnings and errors belong on a device's console.
            Assert.Null(await agent.LineContainingAsync("info: Microsoft.AspNetCore", TimeSpan.FromSeconds(1)));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
