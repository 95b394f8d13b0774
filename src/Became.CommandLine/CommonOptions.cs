using System.CommandLine;
using System.CommandLine.Parsing;

namespace Became.CommandLine;

/// <summary>Options and validators shared by the commands of became and became-bench.</summary>
public static class CommonOptions
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
