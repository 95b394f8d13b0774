using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Became.Protocol;

namespace Became.Cli.Tools;

/// <summary><c>became pull</c> and <c>became infer</c>: ask a device for its model or a prediction, over MQTT 5
/// request/response or HTTP.</summary>
public static class RequestCommands
{
    /// <summary>Runs <c>became pull ARGS</c>.</summary>
    public static Task<int> PullAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        BecameCli.RunAsync(["pull", .. args], output, error, cancellationToken);

    /// <summary>Runs <c>became infer ARGS</c>.</summary>
    public static Task<int> InferAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        BecameCli.RunAsync(["infer", .. args], output, error, cancellationToken);

    internal static Command CreatePull()
    {
        var target = new TargetOptions();
        var version = new Option<int?>("--version") { Description = "the model version to fetch (default: the deployed one)", HelpName = "N" };
        var path = new Option<string>("--output", "-o") { Description = "where to write the model", HelpName = "FILE", Required = true };
        var format = new Option<string?>("--format") { Description = "the model format, one the device exports (default: safetensors, the model file as stored)", HelpName = "NAME" };
        var command = new Command("pull", "fetch a device's model over MQTT 5 request/response or HTTP") { version, path, format };
        target.AddTo(command);
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var (output, error) = (parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error);
            var values = target.Read(parsed);
            var account = target.Login.Read(parsed);
            int? v = parsed.GetValue(version);
            string file = parsed.GetRequiredValue(path);
            string? f = parsed.GetValue(format);
            byte[] request = PullRequest(v, f);
            try
            {
                var (body, got, problem) = values.ContainsKey("--http")
                    ? await HttpAsync(values, (v is null ? "/models/current" : string.Create(CultureInfo.InvariantCulture, $"/models/{v}")) + (f is null ? "" : "?format=" + Uri.EscapeDataString(f)), null, cancellationToken).ConfigureAwait(false)
                    : await MqttAsync(values, account, Topics.ModelsPull, request, cancellationToken).ConfigureAwait(false);
                if (problem is not null)
                {
                    await error.WriteLineAsync($"became pull: {problem}").ConfigureAwait(false);
                    return ExitCodes.Failure;
                }

                await File.WriteAllBytesAsync(file, body, cancellationToken).ConfigureAwait(false);
                await output.WriteLineAsync($"model version {got ?? "?"} ({body.Length} bytes, sha256 {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body))}) -> {file}").ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            catch (Exception e) when (e is IOException or HttpRequestException or UnauthorizedAccessException or MQTTnet.Exceptions.MqttCommunicationException or TimeoutException or FormatException)
            {
                await error.WriteLineAsync($"became pull: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        });
        return command;
    }

    /// <summary>The models/pull request: empty for the deployed model as stored, else {"version": n, "format": "name"}.</summary>
    internal static byte[] PullRequest(int? version, string? format)
    {
        if (version is null && format is null)
        {
            return [];
        }

        var body = new Dictionary<string, object>();
        if (version is int n)
        {
            body["version"] = n;
        }

        if (format is not null)
        {
            body["format"] = format;
        }

        return System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(body);
    }

    internal static Command CreateInfer()
    {
        var target = new TargetOptions();
        var requestFile = new Option<string>("--request") { Description = "request.json ({\"taskId\": \"...\", \"inputs\": [[...784 values in 0..1...], ...]}) or x.safetensors", HelpName = "FILE", Required = true };
        var command = new Command("infer", "ask a device for predictions over MQTT 5 request/response or HTTP") { requestFile };
        target.AddTo(command);
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var (output, error) = (parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error);
            var values = target.Read(parsed);
            var account = target.Login.Read(parsed);
            string file = parsed.GetRequiredValue(requestFile);
            byte[] request;
            try
            {
                request = await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--request: {e.Message}");
            }

            try
            {
                var (body, _, problem) = values.ContainsKey("--http")
                    ? await HttpAsync(values, "/infer", request, cancellationToken).ConfigureAwait(false)
                    : await MqttAsync(values, account, Topics.Infer, request, cancellationToken).ConfigureAwait(false);
                await (problem is null ? output : error).WriteLineAsync(problem is null ? Encoding.UTF8.GetString(body) : $"became infer: {problem}").ConfigureAwait(false);
                return problem is null ? ExitCodes.Ok : ExitCodes.Failure;
            }
            catch (Exception e) when (e is IOException or HttpRequestException or MQTTnet.Exceptions.MqttCommunicationException or TimeoutException or FormatException)
            {
                await error.WriteLineAsync($"became infer: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        });
        return command;
    }

    /// <summary>Where a device answers this client's requests: under the device's own topics, where a fleet ACL lets only
    /// that device publish (deploy/fleet/acl) and an operator read.</summary>
    internal static string ResponseTopic(string topicRoot, string device) => Topics.Reply(topicRoot, device, $"cli-{Guid.NewGuid():N}");

    /// <summary>The device to ask: --http URL [--token T], or --broker HOST:PORT --device ID [--topic-root R] [--username U].</summary>
    private sealed class TargetOptions
    {
        private readonly Option<string> _http = CommonOptions.Http();
        private readonly Option<string> _token = CommonOptions.Token();
        private readonly Option<string> _broker = CommonOptions.Broker();
        private readonly Option<string> _device = CommonOptions.Device();
        private readonly Option<string> _topicRoot = CommonOptions.TopicRoot();

        /// <summary>The account on a secured broker (with --broker).</summary>
        public BrokerLoginOptions Login { get; } = new();

        public void AddTo(Command command)
        {
            command.Options.Add(_http);
            command.Options.Add(_token);
            command.Options.Add(_broker);
            command.Options.Add(_device);
            command.Options.Add(_topicRoot);
            Login.AddTo(command);
        }

        /// <summary>The given values by flag; throws <see cref="UsageException"/> unless one complete target is given.</summary>
        public Dictionary<string, string> Read(ParseResult parsed)
        {
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var option in new[] { _http, _token, _broker, _device, _topicRoot })
            {
                if (parsed.GetValue(option) is string value)
                {
                    values[option.Name] = value;
                }
            }

            bool http = values.ContainsKey("--http");
            if (http == values.ContainsKey("--broker"))
            {
                throw new UsageException("give --http URL, or --broker HOST:PORT with --device ID (one of them)");
            }

            if (!http && !values.ContainsKey("--device"))
            {
                throw new UsageException("--broker needs --device ID (the device to ask)");
            }

            return values;
        }
    }

    private static async Task<(byte[] Body, string? Version, string? Error)> HttpAsync(Dictionary<string, string> values, string path, byte[]? post, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = new Uri(values["--http"]), Timeout = TimeSpan.FromSeconds(60) };
        if (values.TryGetValue("--token", out string? token))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = post is null
            ? await http.GetAsync(path, cancellationToken).ConfigureAwait(false)
            : await http.PostAsync(path, new ByteArrayContent(post), cancellationToken).ConfigureAwait(false);
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        string? version = response.Headers.TryGetValues("X-Model-Version", out var v) ? v.FirstOrDefault() : null;
        return response.IsSuccessStatusCode ? (body, version, null) : (body, version, $"HTTP {(int)response.StatusCode}: {Encoding.UTF8.GetString(body)}");
    }

    /// <summary>One MQTT 5 request to --device on --broker: the reply's body, its version property, or its error ("code: body").</summary>
    internal static async Task<(byte[] Body, string? Version, string? Error)> MqttAsync(Dictionary<string, string> values, BrokerLogin? login, string suffix, byte[] payload, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        string broker = values.GetValueOrDefault("--broker") ?? throw new IOException("--broker HOST:PORT (or --http URL) is required.");
        string device = values.GetValueOrDefault("--device") ?? throw new IOException("--device ID is required.");
        string root = values["--topic-root"];
        var (host, port) = BrokerAddress.Parse(broker);
        await using var client = await MqttRequestClient.ConnectAsync(MqttEndpoint.Tool(host, port, login, "became-cli"), ResponseTopic(root, device), cancellationToken).ConfigureAwait(false);
        var reply = await client.RequestAsync(Topics.Device(root, device, suffix), payload, timeout ?? TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        return reply.Error is string code ? (reply.Payload, null, $"{code}: {Encoding.UTF8.GetString(reply.Payload)}") : (reply.Payload, reply.Properties.GetValueOrDefault("version"), null);
    }
}
