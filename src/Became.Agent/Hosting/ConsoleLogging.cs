using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Became.Agent.Hosting;

/// <summary>
/// The console log's format: <c>Logging:Format</c> (<c>text</c>, <c>json</c> or <c>systemd</c>) when given, else the
/// standard <c>Logging:Console:FormatterName</c>, else journald's (<c>&lt;6&gt;</c> priority prefixes, no colours, no
/// timestamps: the journal stamps each line) when systemd runs the agent, else one line of text per entry.
/// </summary>
public static class ConsoleLogging
{
    /// <summary>Our setting: the console format by its plain name.</summary>
    public const string FormatKey = "Logging:Format";

    /// <summary>The values <see cref="FormatKey"/> takes.</summary>
    public static readonly IReadOnlyList<string> Formats = ["text", "json", "systemd"];

    /// <summary>Sets the console formatter from <paramref name="configuration"/> (an invalid <see cref="FormatKey"/> is left
    /// to <see cref="Validate"/>, which stops the start with one line).</summary>
    public static void Configure(ILoggingBuilder logging, IConfiguration configuration, IReadOnlyDictionary<string, string?>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(logging);
        ArgumentNullException.ThrowIfNull(configuration);
        string? formatter = FormatterName(configuration, environment);
        logging.Services.Configure<SimpleConsoleFormatterOptions>(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat ??= "HH:mm:ss ";
        });
        logging.Services.Configure<JsonConsoleFormatterOptions>(o =>
        {
            o.TimestampFormat ??= "yyyy-MM-ddTHH:mm:ss.fffZ";
            o.UseUtcTimestamp = true;
        });

        // Registered after the host's binding of Logging:Console, so an explicit choice here wins over it; with no
        // choice here, Logging:Console:FormatterName (bound by the host) decides.
        if (formatter is not null)
        {
            logging.Services.Configure<ConsoleLoggerOptions>(o => o.FormatterName = formatter);
        }
    }

    /// <summary>The formatter to set, or null to leave <c>Logging:Console:FormatterName</c> in charge.</summary>
    public static string? FormatterName(IConfiguration configuration, IReadOnlyDictionary<string, string?>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        string? format = configuration[FormatKey];
        if (!string.IsNullOrWhiteSpace(format))
        {
            return format.Trim().ToLowerInvariant() switch
            {
                "json" => ConsoleFormatterNames.Json,
                "systemd" => ConsoleFormatterNames.Systemd,
                _ => ConsoleFormatterNames.Simple,
            };
        }

        if (!string.IsNullOrWhiteSpace(configuration["Logging:Console:FormatterName"]))
        {
            return null;
        }

        return UnderSystemd(environment) ? ConsoleFormatterNames.Systemd : ConsoleFormatterNames.Simple;
    }

    /// <summary>Whether systemd runs the process: its journal takes stdout (JOURNAL_STREAM), it started the unit
    /// (INVOCATION_ID), or what <see cref="SystemdHelpers.IsSystemdService"/> detects.</summary>
    public static bool UnderSystemd(IReadOnlyDictionary<string, string?>? environment = null)
    {
        string? Variable(string name) => environment is null ? Environment.GetEnvironmentVariable(name) : environment.GetValueOrDefault(name);
        return !string.IsNullOrEmpty(Variable("JOURNAL_STREAM")) || !string.IsNullOrEmpty(Variable("INVOCATION_ID"))
            || (environment is null && SystemdHelpers.IsSystemdService());
    }

    /// <summary>The one-line reason an invalid <see cref="FormatKey"/> or formatter name stops the start, or null.</summary>
    public static string? Validate(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        string? format = configuration[FormatKey];
        if (!string.IsNullOrWhiteSpace(format) && !Formats.Contains(format.Trim(), StringComparer.OrdinalIgnoreCase))
        {
            return $"{FormatKey} is '{format}'; use {string.Join(", ", Formats.SkipLast(1))} or {Formats[^1]}";
        }

        string? name = configuration["Logging:Console:FormatterName"];
        string[] names = [ConsoleFormatterNames.Simple, ConsoleFormatterNames.Json, ConsoleFormatterNames.Systemd];
        if (string.IsNullOrWhiteSpace(format) && !string.IsNullOrWhiteSpace(name) && !names.Contains(name.Trim(), StringComparer.OrdinalIgnoreCase))
        {
            // The console logger would silently fall back to "simple" for a name it does not know.
            return $"Logging:Console:FormatterName is '{name}'; use {string.Join(", ", names.SkipLast(1))} or {names[^1]}";
        }

        return null;
    }
}
