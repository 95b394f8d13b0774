using System.Buffers;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Agent.Hosting;

/// <summary><c>became pull</c> and <c>became infer</c>: ask a device for its model or a prediction, over MQTT 5
/// request/response or HTTP.</summary>
public static class RequestCommands
{
    public const string PullUsage = """
        became pull (--broker HOST:PORT --device ID | --http URL [--token T]) [--version N] -o model.safetensors
        """;

    public const string InferUsage = """
        became infer (--broker HOST:PORT --device ID | --http URL [--token T]) --request request.json|x.safetensors
          request.json: {"taskId": "...", "inputs": [[...784 values in 0..1...], ...]}
        """;

    public static async Task<int> PullAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var values = ParseFlags(args);
        if (values is null || !values.TryGetValue("-o", out string? path))
        {
            await error.WriteLineAsync(PullUsage).ConfigureAwait(false);
            return 2;
        }

        byte[] request = values.TryGetValue("--version", out string? v) ? Encoding.UTF8.GetBytes($"{{\"version\": {int.Parse(v, CultureInfo.InvariantCulture)}}}") : [];
        try
        {
            var (body, version, error2) = values.ContainsKey("--http")
                ? await HttpAsync(values, v is null ? "/models/current" : $"/models/{v}", null, cancellationToken).ConfigureAwait(false)
                : await MqttAsync(values, "models/pull", request, cancellationToken).ConfigureAwait(false);
            if (error2 is not null)
            {
                await error.WriteLineAsync($"became pull: {error2}").ConfigureAwait(false);
                return 1;
            }

            await File.WriteAllBytesAsync(path, body, cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync($"model version {version ?? "?"} ({body.Length} bytes, sha256 {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body))}) -> {path}").ConfigureAwait(false);
            return 0;
        }
        catch (Exception e) when (e is IOException or HttpRequestException or MQTTnet.Exceptions.MqttCommunicationException or TimeoutException or FormatException)
        {
            await error.WriteLineAsync($"became pull: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    public static async Task<int> InferAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var values = ParseFlags(args);
        if (values is null || !values.TryGetValue("--request", out string? file))
        {
            await error.WriteLineAsync(InferUsage).ConfigureAwait(false);
            return 2;
        }

        try
        {
            byte[] request = await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false);
            var (body, _, problem) = values.ContainsKey("--http")
                ? await HttpAsync(values, "/infer", request, cancellationToken).ConfigureAwait(false)
                : await MqttAsync(values, "infer", request, cancellationToken).ConfigureAwait(false);
            await (problem is null ? output : error).WriteLineAsync(problem is null ? Encoding.UTF8.GetString(body) : $"became infer: {problem}").ConfigureAwait(false);
            return problem is null ? 0 : 1;
        }
        catch (Exception e) when (e is IOException or HttpRequestException or MQTTnet.Exceptions.MqttCommunicationException or TimeoutException or FormatException)
        {
            await error.WriteLineAsync($"became infer: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    private static Dictionary<string, string>? ParseFlags(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Count; i += 2)
        {
            if (!args[i].StartsWith('-') || i + 1 >= args.Count)
            {
                return null;
            }

            values[args[i]] = args[i + 1];
        }

        return values;
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

    private static async Task<(byte[] Body, string? Version, string? Error)> MqttAsync(Dictionary<string, string> values, string suffix, byte[] payload, CancellationToken cancellationToken)
    {
        string broker = values.GetValueOrDefault("--broker") ?? throw new IOException("--broker HOST:PORT (or --http URL) is required.");
        string device = values.GetValueOrDefault("--device") ?? throw new IOException("--device ID is required.");
        var (host, port) = BrokerAddress.Parse(broker);
        using var client = new MqttClientFactory().CreateMqttClient();
        var reply = new TaskCompletionSource<MqttApplicationMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        byte[] correlation = Guid.NewGuid().ToByteArray();
        client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.CorrelationData is { } c && c.AsSpan().SequenceEqual(correlation))
            {
                reply.TrySetResult(e.ApplicationMessage);
            }

            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(host, port)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId($"became-cli-{Guid.NewGuid():N}")
            .Build(), cancellationToken).ConfigureAwait(false);
        string responseTopic = $"became-cli/{Guid.NewGuid():N}/reply";
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(responseTopic, MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken).ConfigureAwait(false);
        await client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic($"{values.GetValueOrDefault("--topic-root") ?? "became"}/{device}/{suffix}")
            .WithPayload(payload)
            .WithResponseTopic(responseTopic)
            .WithCorrelationData(correlation)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build(), cancellationToken).ConfigureAwait(false);
        var message = await reply.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), cancellationToken).ConfigureAwait(false);
        string? Property(string name) => message.UserProperties?.FirstOrDefault(p => p.Name == name)?.ReadValueAsString();
        byte[] body = message.Payload.ToArray();
        return Property("error") is string code ? (body, null, $"{code}: {Encoding.UTF8.GetString(body)}") : (body, Property("version"), null);
    }
}
