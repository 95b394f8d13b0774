using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Became.Protocol;

namespace Became.Cli.Tools;

/// <summary><c>became adopt --device B --from A [--version N] --broker HOST:PORT</c>: tells device B to adopt A's version
/// with its learner state (cmd/adopt), and prints the outcome in one line.</summary>
public static class AdoptCommand
{
    internal static Command Create()
    {
        var broker = CommonOptions.Broker();
        broker.Required = true;
        var device = new Option<string>("--device") { Description = "the device that adopts (its topics are became/ID/...)", HelpName = "ID", Required = true };
        var from = new Option<string>("--from") { Description = "the device whose version it adopts", HelpName = "ID", Required = true };
        var version = new Option<int?>("--version") { Description = "the version to adopt (default: the one --from has deployed)", HelpName = "N" };
        var timeout = new Option<double>("--timeout") { Description = "seconds to wait for the outcome", HelpName = "SECONDS", DefaultValueFactory = _ => 300 }.Positive();
        var topicRoot = CommonOptions.TopicRoot();
        var login = new BrokerLoginOptions();
        var command = new Command("adopt", "make a device adopt another device's model with its learner state (train once, deploy many)")
        {
            broker, device, from, version, timeout, topicRoot,
        };
        login.AddTo(command);
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var (output, error) = (parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error);
            string adopter = parsed.GetRequiredValue(device), source = parsed.GetRequiredValue(from);
            int? v = parsed.GetValue(version);
            var account = login.Read(parsed);
            if (adopter == source)
            {
                throw new UsageException("--device and --from name the same device; a device cannot adopt from itself");
            }

            var values = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["--broker"] = parsed.GetRequiredValue(broker),
                ["--device"] = adopter,
                ["--topic-root"] = parsed.GetValue(topicRoot) ?? Topics.DefaultRoot,
            };
            byte[] request = JsonSerializer.SerializeToUtf8Bytes(v is int n ? new Dictionary<string, object> { ["from"] = source, ["version"] = n } : new Dictionary<string, object> { ["from"] = source });
            try
            {
                var (body, _, problem) = await RequestCommands.MqttAsync(values, account, Topics.Adopt, request, cancellationToken, TimeSpan.FromSeconds(parsed.GetValue(timeout))).ConfigureAwait(false);
                if (problem is not null)
                {
                    await error.WriteLineAsync($"became adopt: {OneLine(problem)}").ConfigureAwait(false);
                    return ExitCodes.Failure;
                }

                await output.WriteLineAsync(Describe(adopter, source, body)).ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            catch (TimeoutException)
            {
                await error.WriteLineAsync($"became adopt: device {adopter} did not answer within {parsed.GetValue(timeout):0.#} s (is it running, on this broker?)").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
            catch (Exception e) when (e is IOException or MQTTnet.Exceptions.MqttCommunicationException or FormatException or JsonException)
            {
                await error.WriteLineAsync($"became adopt: {OneLine(e.Message)}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        });
        return command;
    }

    /// <summary>The reply in one line: deployed now, or queued behind the job in flight.</summary>
    internal static string Describe(string adopter, string source, byte[] body)
    {
        var reply = JsonDocument.Parse(body).RootElement;
        int fromVersion = reply.GetProperty("from").GetProperty("version").GetInt32();
        string tasks = string.Join(", ", reply.GetProperty("tasks").EnumerateArray().Select(t => t.GetString()));
        if (reply.GetProperty("queued").GetBoolean())
        {
            return $"{adopter}: adoption of {source} version {fromVersion} queued behind the job in flight (tasks {tasks})";
        }

        string accuracy = reply.TryGetProperty("accuracy", out var a) && a.ValueKind == JsonValueKind.Object
            ? string.Join(", ", a.EnumerateObject().Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Name} {p.Value.GetDouble():F2}%")))
            : "";
        return $"{adopter}: adopted {source} version {fromVersion} as version {reply.GetProperty("version").GetInt32()}, deployed (accuracy {accuracy})";
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
