using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Hosting;

// Not ...Tests.Hosting: that namespace would shadow Became.Agent.Hosting in tests that write Hosting.AgentHost.
namespace Became.Agent.Tests.HostingChecks;

/// <summary>The console format of the real <c>became run</c>: text by default, JSON on request (our
/// <c>Logging:Format</c> or the standard <c>Logging:Console:FormatterName</c>), journald's under systemd.</summary>
[Trait("Speed", "Slow")]
public sealed class ConsoleFormatTests
{
    // The test runner itself may run under systemd; the agent must not inherit that unless a test says so.
    private static readonly Dictionary<string, string> NotUnderSystemd = new() { ["JOURNAL_STREAM"] = "", ["INVOCATION_ID"] = "", ["BECAME__LOGGING__FORMAT"] = "" };

    [Fact]
    public async Task Default_console_is_one_line_of_text_per_entry()
    {
        var lines = await RunUntilListeningAsync(NotUnderSystemd);

        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d\d:\d\d:\d\d info: Became\.Agent\.Hosting\.MessagingService\[0\] MQTT: listening on became/"));
    }

    [Fact]
    public async Task Logging_Format_json_makes_every_stdout_line_a_json_object()
    {
        var lines = await RunUntilListeningAsync(new(NotUnderSystemd) { ["BECAME__LOGGING__FORMAT"] = "json" });

        AssertAllJson(lines);
    }

    [Fact]
    public async Task The_standard_Console_FormatterName_json_works_too()
    {
        var lines = await RunUntilListeningAsync(NotUnderSystemd, "--Logging:Console:FormatterName=json");

        AssertAllJson(lines);
    }

    [Fact]
    public async Task Under_systemd_lines_carry_syslog_priorities_and_no_colours()
    {
        // systemd sets JOURNAL_STREAM when the unit's stdout goes to the journal.
        var lines = await RunUntilListeningAsync(new(NotUnderSystemd) { ["JOURNAL_STREAM"] = "8:4242" });

        Assert.Contains(lines, l => l.StartsWith("<6>Became.Agent.Hosting.MessagingService[0] MQTT: listening on became/", StringComparison.Ordinal));
        Assert.All(lines.Where(l => l.Length > 0 && !char.IsWhiteSpace(l[0])), l => Assert.Matches(@"^<[0-7]>", l));
        Assert.DoesNotContain(lines, l => l.Contains('\u001b', StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unknown_Logging_Format_is_one_line_and_exit_2()
    {
        string data = Directory.CreateTempSubdirectory("became-logfmt-").FullName;
        try
        {
            var result = await BecameCommand.RunProcessAsync(["run", "--data-dir", data, "--embedded-port", "0", "--Logging:Format=xml"], NotUnderSystemd);

            BecameCommand.AssertUsageError(result, "Logging:Format", "'xml'", "text, json or systemd");
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Theory]
    [InlineData("--Logging:Format=json")]
    [InlineData("--Logging:Console:FormatterName=systemd")]
    [InlineData("--Logging:LogLevel:Became.Agent.Messaging=Debug")]
    public void The_documented_logging_keys_are_known_settings(string flag) =>
        Assert.Null(SettingKeys.FindUnknown([flag], AgentHost.Switches, AppContext.BaseDirectory));

    private static void AssertAllJson(IReadOnlyList<string> lines)
    {
        Assert.NotEmpty(lines);
        foreach (string line in lines)
        {
            using var json = JsonDocument.Parse(line);
            Assert.True(json.RootElement.TryGetProperty("LogLevel", out _), line);
            Assert.True(json.RootElement.TryGetProperty("Message", out _), line);
        }

        Assert.Contains(lines, l => l.Contains("\"Message\":\"MQTT: listening on became/", StringComparison.Ordinal));
    }

    /// <summary>Starts the agent, waits for its MQTT line, stops it with SIGTERM and returns all of its stdout.</summary>
    private static async Task<IReadOnlyList<string>> RunUntilListeningAsync(Dictionary<string, string> environment, params string[] args)
    {
        string data = Directory.CreateTempSubdirectory("became-logfmt-").FullName;
        try
        {
            await using var agent = AgentProcess.Start(data, environment, args);
            Assert.True(await agent.LineContainingAsync("MQTT: listening on became/", TimeSpan.FromMinutes(2)) is not null, $"no MQTT line:\n{string.Join('\n', agent.Lines)}\n{agent.Errors}");
            await agent.TerminateAsync();
            Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromMinutes(1)));
            return agent.Lines;
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
