using System.CommandLine;

namespace Became.CommandLine;

/// <summary>An account on a secured broker (an operator's, in a fleet): the user and its password, if any.</summary>
public sealed record BrokerLogin(string Username, string? Password);

/// <summary>The <c>--username</c>/<c>--password</c> pair of every command that talks MQTT, defined once so they read
/// and fall back (to <see cref="PasswordVariable"/>) the same everywhere.</summary>
public sealed class BrokerLoginOptions
{
    /// <summary>The password's environment variable: unlike <c>--password</c> it stays out of the process list.</summary>
    public const string PasswordVariable = "BECAME_BROKER_PASSWORD";

    /// <summary>The broker user.</summary>
    public Option<string> Username { get; } = new("--username") { Description = "the broker user (an operator's account on a secured broker)", HelpName = "USER" };

    /// <summary>The broker password.</summary>
    public Option<string> Password { get; } = new("--password") { Description = $"the broker password (or {PasswordVariable}, which stays out of the process list)", HelpName = "PASSWORD" };

    /// <summary>Adds both options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(Username);
        command.Options.Add(Password);
    }

    /// <summary>The login given, or null for an anonymous connection; a password without a user is a usage error.</summary>
    public BrokerLogin? Read(ParseResult parsed)
    {
        ArgumentNullException.ThrowIfNull(parsed);
        string? password = parsed.GetValue(Password);
        return parsed.GetValue(Username) switch
        {
            null when password is not null => throw new UsageException("--password needs --username USER (the broker account it belongs to)"),
            null => null,
            string user => new BrokerLogin(user, password ?? Environment.GetEnvironmentVariable(PasswordVariable)),
        };
    }
}
