using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Became.Agent.Configuration;

/// <summary>A configuration key no setting reads, where it came from, and the nearest valid key.</summary>
/// <param name="Key">The key as written (a flag, a JSON path or an environment variable).</param>
/// <param name="Source">Where it was written.</param>
/// <param name="Suggestion">The nearest valid key in the same spelling, if one is close.</param>
public sealed record UnknownSetting(string Key, string Source, string? Suggestion)
{
    /// <summary>One line naming the key, its source and the nearest valid one.</summary>
    public override string ToString() => !Key.StartsWith('-') && !Key.StartsWith('/') && Source == SettingKeys.CommandLine
        ? $"unexpected argument '{Key}' (settings take the form --Section:Key=value)"
        : $"unknown {(Source == SettingKeys.CommandLine && !Key.Contains(':') ? "option" : "setting")} '{Key}'{(Source == SettingKeys.CommandLine ? "" : $" in {Source}")}" +
        (Suggestion is null ? "" : $"; did you mean '{Suggestion}'?");
}

/// <summary>
/// Every configuration key the agent reads (the properties of <see cref="AgentOptions"/>, the demo's and logging's), so a
/// misspelled key in appsettings.json, a BECAME__ variable or a <c>--Section:Key=value</c> flag is an error instead of
/// silently ignored. Only those three sources are checked: the host also reads every environment variable unprefixed.
/// </summary>
public static class SettingKeys
{
    /// <summary>The source name of command-line settings.</summary>
    public const string CommandLine = "the command line";

    /// <summary>Prefix of the environment variables that set settings.</summary>
    public const string EnvironmentPrefix = "BECAME__";

    // Read by code outside AgentOptions: --broker HOST:PORT's key and the demo feeder's.
    private static readonly string[] Extra = ["BrokerAddress", "Demo:Stream", "Demo:SamplesPerTask", "Demo:Data"];

    // Sections whose keys are open-ended (Logging:LogLevel:<category>, Logging:Console:...).
    private static readonly string[] OpenSections = ["Logging"];

    private static readonly HashSet<string> Arrays = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Every valid leaf key, e.g. <c>Training:Epochs</c> (array settings take <c>:0</c>, <c>:1</c>... after it).</summary>
    public static IReadOnlyList<string> Known { get; } = [.. Walk(typeof(AgentOptions), null), .. Extra];

    /// <summary>Whether a key (any case) names a setting, a section of settings, or an element of a list setting.</summary>
    public static bool IsKnown(string key)
    {
        string[] parts = key.Split(':');
        if (OpenSections.Any(s => parts[0].Equals(s, StringComparison.OrdinalIgnoreCase)))
        {
            return true;
        }

        // Model:InputShape:0 is an element of Model:InputShape.
        if (parts.Length > 1 && int.TryParse(parts[^1], out _) && Arrays.Contains(string.Join(':', parts[..^1])))
        {
            return true;
        }

        return Known.Any(k => k.Equals(key, StringComparison.OrdinalIgnoreCase) || k.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The first key in the agent's own configuration sources that no setting reads, or null.</summary>
    /// <param name="args">The <c>became run</c> arguments as the configuration reads them.</param>
    /// <param name="switches">Flags that stand for settings (<c>--epochs</c> for <c>Training:Epochs</c>).</param>
    /// <param name="contentRoot">The folder of appsettings.json.</param>
    public static UnknownSetting? FindUnknown(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> switches, string contentRoot)
    {
        return FromCommandLine(args, switches) ?? FromEnvironment() ?? FromJson(contentRoot);
    }

    private static UnknownSetting? FromCommandLine(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> switches)
    {
        var flags = switches.Keys.Concat(Known.Select(k => "--" + k)).ToList();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string flag = arg.Split('=', 2)[0];

            // As the command-line configuration reads them: --key=value, --key value, /key value; -k only when mapped.
            bool dashDash = arg.StartsWith("--", StringComparison.Ordinal);
            if (!dashDash && !arg.StartsWith('/') && !(arg.StartsWith('-') && switches.ContainsKey(flag)))
            {
                return new UnknownSetting(arg, CommandLine, arg.StartsWith('-') ? Suggestions.Nearest(flag, flags) : null);
            }

            if (!arg.Contains('=') && i + 1 < args.Count)
            {
                i++;
            }

            string key = dashDash ? flag[2..] : flag[1..];
            if (!switches.ContainsKey(flag) && !IsKnown(key))
            {
                return new UnknownSetting(flag, CommandLine, Suggestions.Nearest(flag, flags));
            }
        }

        return null;
    }

    private static UnknownSetting? FromEnvironment()
    {
        var variables = new ConfigurationBuilder().AddEnvironmentVariables(EnvironmentPrefix).Build();
        foreach (var (key, value) in variables.AsEnumerable())
        {
            if (value is not null && !IsKnown(key))
            {
                string variable = EnvironmentPrefix + key.Replace(":", "__", StringComparison.Ordinal).ToUpperInvariant();
                string? near = Suggestions.Nearest(key, Known);
                return new UnknownSetting(variable, "the environment", near is null ? null : EnvironmentPrefix + near.Replace(":", "__", StringComparison.Ordinal).ToUpperInvariant());
            }
        }

        return null;
    }

    private static UnknownSetting? FromJson(string contentRoot)
    {
        string environment = Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? "Production";
        foreach (string name in new[] { "appsettings.json", $"appsettings.{environment}.json" })
        {
            string path = Path.Combine(contentRoot, name);
            if (!File.Exists(path))
            {
                continue;
            }

            var file = new ConfigurationBuilder().AddJsonFile(path, optional: true).Build();
            foreach (var (key, value) in file.AsEnumerable())
            {
                if (value is not null && !IsKnown(key))
                {
                    return new UnknownSetting(key, path, Suggestions.Nearest(key, Known));
                }
            }
        }

        return null;
    }

    private static IEnumerable<string> Walk(Type type, string? prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetSetMethod() is null || property.GetGetMethod() is null)
            {
                continue;
            }

            string key = prefix is null ? property.Name : $"{prefix}:{property.Name}";
            var t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (t.IsArray)
            {
                Arrays.Add(key);
                yield return key;
            }
            else if (t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal))
            {
                yield return key;
            }
            else
            {
                foreach (string child in Walk(t, key))
                {
                    yield return child;
                }
            }
        }
    }
}
