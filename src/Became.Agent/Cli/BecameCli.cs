using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Reflection;
using System.Text.RegularExpressions;
using Became.Agent.Bench;
using Became.Agent.Hosting;

namespace Became.Agent.Cli;

/// <summary>A user's mistake found after parsing (a missing or conflicting option, a bad file): one line, exit 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The <c>became</c> command line (System.CommandLine): every command and its options, and the one place where parse
/// errors, user mistakes and unexpected exceptions become one line on stderr and an <see cref="ExitCodes"/> code.
/// </summary>
public static partial class BecameCli
{
    /// <summary>Set to 1 for the full exception of an unexpected failure (otherwise one line).</summary>
    public const string VerboseVariable = "BECAME_VERBOSE";

    /// <summary>Parses <paramref name="args"/> and runs the command; never throws (but for a cancelled <paramref name="cancellationToken"/>, which gives 130).</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        ParseResult parsed;
        try
        {
            parsed = CreateRoot().Parse(args);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A response file (@file) that cannot be read.
            await error.WriteLineAsync($"became: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        string name = CommandPath(parsed.CommandResult);
        if (parsed.Action is not CommandLineAction { ClearsParseErrors: true } && parsed.Errors.Count > 0)
        {
            await error.WriteLineAsync($"{name}: {Describe(parsed)}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        var configuration = new InvocationConfiguration
        {
            Output = output,
            Error = error,
            EnableDefaultExceptionHandler = false,

            // The agent's host handles SIGTERM and Ctrl-C itself (graceful stop within ShutdownSeconds).
            ProcessTerminationTimeout = null,
        };
        try
        {
            return await parsed.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        catch (UsageException e)
        {
            await error.WriteLineAsync($"{name}: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await error.WriteLineAsync($"{name}: cancelled").ConfigureAwait(false);
            return ExitCodes.Cancelled;
        }
        catch (Exception e) when (e is IOException or HttpRequestException or TimeoutException or MQTTnet.Exceptions.MqttCommunicationException)
        {
            // A device or broker that cannot be reached: a runtime failure, said in one line.
            await error.WriteLineAsync($"{name}: {OneLine(e.Message)}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (Exception e)
        {
            await error.WriteLineAsync(Unexpected(name, e)).ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    /// <summary>One line for an exception nobody expected, or its full text with BECAME_VERBOSE=1.</summary>
    public static string Unexpected(string name, Exception e) =>
        Environment.GetEnvironmentVariable(VerboseVariable) == "1"
            ? $"{name}: unexpected error: {e}"
            : $"{name}: unexpected error: {e.GetType().Name}: {OneLine(e.Message)} (set {VerboseVariable}=1 for the details)";

    /// <summary>The version line of <c>became --version</c>: the build's version and libtorch backend, read from this
    /// assembly's stamp rather than Became.Core's (whose first use loads libtorch).</summary>
    public static string VersionLine()
    {
        var assembly = typeof(BecameCli).Assembly;
        string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "unknown";
        string backend = assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "TorchBackend")?.Value ?? "unknown";
        return $"became {version} (libtorch backend: {backend})";
    }

    internal static RootCommand CreateRoot()
    {
        var root = new RootCommand("became — continual learning on the edge (BECAME: gradient projection + adaptive merging)")
        {
            AgentCommandLine.Create(),
            PublishCommand.Create(),
            RequestCommands.CreatePull(),
            RequestCommands.CreateInfer(),
            BenchCommand.Create(),
            InferBenchCommand.Create(),
        };
        foreach (var version in root.Options.OfType<VersionOption>())
        {
            version.Action = new VersionAction();
        }

        return root;
    }

    /// <summary>The first parse error as one line, naming the option or value and the nearest valid one.</summary>
    internal static string Describe(ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        if (parsed.UnmatchedTokens.Count > 0)
        {
            string token = parsed.UnmatchedTokens[0];
            if (token.StartsWith('-'))
            {
                string flag = token.Split('=', 2)[0];
                return $"unknown option '{flag}'{Suggestions.Hint(flag, OptionNames(command))}{HelpHint(parsed, flag)}";
            }

            return command.Subcommands.Count > 0
                ? $"unknown command '{token}'{Suggestions.Hint(token, command.Subcommands.Select(c => c.Name))}{HelpHint(parsed, token)}"
                : $"unexpected argument '{token}' (options take the form --name value)";
        }

        var first = parsed.Errors[0];
        string message = first.Message;
        if (NotRecognized().Match(message) is { Success: true } match && (first.SymbolResult as OptionResult ?? first.SymbolResult?.Parent as OptionResult) is { } owner)
        {
            // AcceptOnlyFromAmong's "Argument 'gmp' not recognized. Must be one of: ..." over several lines.
            var allowed = match.Groups[2].Value.Split('\'', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(a => a.Length > 0).ToList();
            return $"{owner.Option.Name}: '{match.Groups[1].Value}' is not one of {string.Join(", ", allowed)}{Suggestions.Hint(match.Groups[1].Value, allowed)}";
        }

        if (message.StartsWith("Required command was not provided", StringComparison.Ordinal))
        {
            return $"a command is required: {string.Join(", ", command.Subcommands.Select(c => c.Name))} (became --help)";
        }

        return OneLine(CannotParse().Replace(message, m => $"{m.Groups[2].Value}: '{m.Groups[1].Value}' is not {TypeWord(m.Groups[3].Value)}"));
    }

    /// <summary>The long names of a command's options, for suggestions.</summary>
    internal static IEnumerable<string> OptionNames(Command command) =>
        command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal)).Distinct();

    internal static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
        {
            if (r is CommandResult c)
            {
                names.Insert(0, c.Command is RootCommand ? "became" : c.Command.Name);
            }
        }

        return string.Join(' ', names);
    }

    private static string HelpHint(ParseResult parsed, string typed) =>
        Suggestions.Nearest(typed, OptionNames(parsed.CommandResult.Command).Concat(parsed.CommandResult.Command.Subcommands.Select(c => c.Name))) is null
            ? $" (see '{CommandPath(parsed.CommandResult)} --help')"
            : string.Empty;

    private static string TypeWord(string type) => type switch
    {
        "System.Int32" or "System.Int64" or "System.Nullable`1[System.Int32]" => "an integer",
        "System.Double" or "System.Nullable`1[System.Double]" => "a number",
        "System.Boolean" => "true or false",
        _ => $"a {type}",
    };

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();

    [GeneratedRegex("^Argument '(.*)' not recognized\\. Must be one of:(.*)$", RegexOptions.Singleline)]
    private static partial Regex NotRecognized();

    [GeneratedRegex("Cannot parse argument '(.*)' for option '(.*)' as expected type '(.*)'\\.")]
    private static partial Regex CannotParse();

    private sealed class VersionAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(VersionLine());
            return ExitCodes.Ok;
        }
    }
}

/// <summary>Options shared by the commands that talk to a device.</summary>
internal static class CommonOptions
{
    public static Option<string> Broker(string description = "the MQTT broker, HOST[:PORT] (port 1883 when none is given)")
    {
        var option = new Option<string>("--broker") { Description = description, HelpName = "HOST:PORT" };
        option.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string>();
            if (value is not null && (BrokerAddress.Split(value) is var (host, port) && (host.Length == 0 || port is not null && !(int.TryParse(port, out int p) && p is > 0 and < 65536))))
            {
                result.AddError($"--broker: '{value}' is not HOST or HOST:PORT with a TCP port");
            }
        });
        return option;
    }

    public static Option<string> Http()
    {
        var option = new Option<string>("--http") { Description = "the agent's HTTP address, e.g. http://127.0.0.1:8080", HelpName = "URL" };
        option.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string>();
            if (value is not null && !IsHttpUrl(value))
            {
                result.AddError($"--http: '{value}' is not an absolute http:// or https:// URL (e.g. http://127.0.0.1:8080)");
            }
        });
        return option;
    }

    public static bool IsHttpUrl(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    public static Option<string> Device() => new("--device") { Description = "the device's id (its topics are became/ID/...)", HelpName = "ID" };

    public static Option<string> Token() => new("--token") { Description = "the agent's HttpToken (sent as a bearer token)", HelpName = "TOKEN" };

    public static Option<string> TopicRoot() => new("--topic-root") { Description = "the agents' topic root", HelpName = "ROOT", DefaultValueFactory = _ => "became" };

    /// <summary>The option's given value; false when none was given or it did not convert (that error is reported already).</summary>
    public static bool TryGet<T>(OptionResult result, out T value)
    {
        value = default!;
        if (result.Tokens.Count == 0)
        {
            return false;
        }

        try
        {
            value = result.GetValueOrDefault<T>();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Adds "must be at least <paramref name="min"/>" to a number option.</summary>
    public static Option<T> AtLeast<T>(this Option<T> option, T min)
        where T : struct, IComparable<T>
    {
        option.Validators.Add(result =>
        {
            if (TryGet(result, out T value) && value.CompareTo(min) < 0)
            {
                result.AddError($"{option.Name}: '{result.Tokens[0].Value}' must be at least {min}");
            }
        });
        return option;
    }

    /// <summary>Adds "must be positive" to a number option.</summary>
    public static Option<double> Positive(this Option<double> option)
    {
        option.Validators.Add(result =>
        {
            if (TryGet(result, out double value) && !(value > 0 && double.IsFinite(value)))
            {
                result.AddError($"{option.Name}: '{result.Tokens[0].Value}' must be a positive number");
            }
        });
        return option;
    }
}
