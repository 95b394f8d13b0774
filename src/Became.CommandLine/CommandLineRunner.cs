using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace Became.CommandLine;

/// <summary>A user's mistake found after parsing (a missing or conflicting option, a bad file): one line, exit 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// Runs a System.CommandLine root the same way for <c>became</c> and <c>became-bench</c>: the one place where parse
/// errors, user mistakes and unexpected exceptions become one line on stderr and an <see cref="ExitCodes"/> code.
/// </summary>
public static partial class CommandLineRunner
{
    /// <summary>Set to 1 for the full exception of an unexpected failure (otherwise one line).</summary>
    public const string VerboseVariable = "BECAME_VERBOSE";

    /// <summary>Parses <paramref name="args"/> against <paramref name="root"/> and runs the command; never throws (but for
    /// a cancelled <paramref name="cancellationToken"/>, which gives 130). <paramref name="rootName"/> is how messages
    /// name the root ("became", "became bench"); <paramref name="isUnreachable"/> marks exceptions that mean a device
    /// or broker that cannot be reached (a runtime failure in one line, exit 1).</summary>
    public static async Task<int> RunAsync(
        RootCommand root, string rootName, IReadOnlyList<string> args, TextWriter output, TextWriter error, Func<Exception, bool>? isUnreachable, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(error);
        ParseResult parsed;
        try
        {
            parsed = root.Parse(args);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A response file (@file) that cannot be read.
            await error.WriteLineAsync($"{rootName}: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        string name = CommandPath(parsed.CommandResult, rootName);
        if (parsed.Action is not CommandLineAction { ClearsParseErrors: true } && parsed.Errors.Count > 0)
        {
            await error.WriteLineAsync($"{name}: {Describe(parsed, rootName)}").ConfigureAwait(false);
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
        catch (Exception e) when (e is IOException or HttpRequestException or TimeoutException || isUnreachable?.Invoke(e) == true)
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
            : $"{name}: unexpected error: {e?.GetType().Name}: {OneLine(e?.Message ?? string.Empty)} (set {VerboseVariable}=1 for the details)";

    /// <summary>Makes <c>--version</c> print <paramref name="line"/> (exit 0).</summary>
    public static void SetVersion(RootCommand root, Func<string> line)
    {
        ArgumentNullException.ThrowIfNull(root);
        foreach (var version in root.Options.OfType<VersionOption>())
        {
            version.Action = new VersionAction(line);
        }
    }

    /// <summary>The first parse error as one line, naming the option or value and the nearest valid one.</summary>
    public static string Describe(ParseResult parsed, string rootName)
    {
        ArgumentNullException.ThrowIfNull(parsed);
        var command = parsed.CommandResult.Command;
        if (parsed.UnmatchedTokens.Count > 0)
        {
            string token = parsed.UnmatchedTokens[0];
            if (token.StartsWith('-'))
            {
                string flag = token.Split('=', 2)[0];
                return $"unknown option '{flag}'{Suggestions.Hint(flag, OptionNames(command))}{HelpHint(parsed, flag, rootName)}";
            }

            return command.Subcommands.Count > 0
                ? $"unknown command '{token}'{Suggestions.Hint(token, command.Subcommands.Select(c => c.Name))}{HelpHint(parsed, token, rootName)}"
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
            return $"a command is required: {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))} ({rootName} --help)";
        }

        return OneLine(CannotParse().Replace(message, m => $"{m.Groups[2].Value}: '{m.Groups[1].Value}' is not {TypeWord(m.Groups[3].Value)}"));
    }

    /// <summary>The long names of a command's options, for suggestions.</summary>
    public static IEnumerable<string> OptionNames(Command command) =>
        command?.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal)).Distinct() ?? [];

    /// <summary>"became pull", "became bench": the commands from the root down to <paramref name="result"/>'s.</summary>
    public static string CommandPath(CommandResult result, string rootName)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
        {
            if (r is CommandResult c)
            {
                names.Insert(0, c.Command is RootCommand ? rootName : c.Command.Name);
            }
        }

        return string.Join(' ', names);
    }

    private static string HelpHint(ParseResult parsed, string typed, string rootName) =>
        Suggestions.Nearest(typed, OptionNames(parsed.CommandResult.Command).Concat(parsed.CommandResult.Command.Subcommands.Select(c => c.Name))) is null
            ? $" (see '{CommandPath(parsed.CommandResult, rootName)} --help')"
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

    private sealed class VersionAction(Func<string> line) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(line());
            return ExitCodes.Ok;
        }
    }
}
