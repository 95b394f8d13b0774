using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Became.Protocol;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Cli.Tools;

/// <summary><c>became status</c>: a device's retained status (MQTT) or <c>GET /status</c> (HTTP) as a short table —
/// state, version, queue, last error, held-out accuracy per task — once, or live with <c>--watch</c>.</summary>
public static class StatusCommand
{
    // How often --watch asks over HTTP (MQTT pushes each change).
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    /// <summary>Runs <c>became status ARGS</c>.</summary>
    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        BecameCli.RunAsync(["status", .. args], output, error, cancellationToken);

    internal static Command Create()
    {
        var http = CommonOptions.Http();
        var token = CommonOptions.Token();
        var broker = CommonOptions.Broker();
        var device = CommonOptions.Device();
        var topicRoot = CommonOptions.TopicRoot();
        var watch = new Option<bool>("--watch", "-w") { Description = "keep following the status and print it again on every change (Ctrl-C ends)" };
        var json = new Option<bool>("--json") { Description = "print the status JSON as the device sends it (with --watch one line per change)" };
        var timeout = new Option<double>("--timeout") { Description = "seconds to wait for the first status", HelpName = "SECONDS", DefaultValueFactory = _ => 10 }.Positive();
        var login = new BrokerLoginOptions();
        var command = new Command("status", "show a device's state, model version, queue and accuracy per task (MQTT retained status, or HTTP GET /status)")
        {
            http, token, broker, device, topicRoot, watch, json, timeout,
        };
        login.AddTo(command);
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var (output, error) = (parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error);
            string? url = parsed.GetValue(http);
            string? address = parsed.GetValue(broker);
            string? id = parsed.GetValue(device);
            var account = login.Read(parsed);
            if ((url is null) == (address is null))
            {
                throw new UsageException("give --broker HOST:PORT with --device ID, or --http URL (one of them)");
            }

            if (address is not null && id is null)
            {
                throw new UsageException("--broker needs --device ID (the device to show)");
            }

            var view = new StatusView(output, parsed.GetValue(json), redraw: parsed.GetValue(watch) && ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected, device: url is null ? id : null);
            var wait = TimeSpan.FromSeconds(parsed.GetValue(timeout));
            return url is not null
                ? await HttpAsync(view, url, parsed.GetValue(token), parsed.GetValue(watch), wait, error, cancellationToken).ConfigureAwait(false)
                : await MqttAsync(view, address!, id!, account, parsed.GetRequiredValue(topicRoot), parsed.GetValue(watch), wait, error, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>The rows of the table for one status payload (the "updated" row last), or null when it is not a status.</summary>
    /// <param name="device">The device asked for (MQTT), or null where the status names it or only the address is known (HTTP).</param>
    /// <param name="source">Where the status came from: <c>mqtt HOST:PORT</c> or the URL.</param>
    /// <param name="payload">The status JSON as the device sent it.</param>
    /// <param name="now">The time its age is measured against.</param>
    public static IReadOnlyList<(string Name, string Value)>? Rows(string? device, string source, ReadOnlySpan<byte> payload, DateTimeOffset now)
    {
        JsonElement status;
        try
        {
            using var document = JsonDocument.Parse(payload.ToArray());
            status = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }

        if (status.ValueKind != JsonValueKind.Object || !status.TryGetProperty("state", out var stateElement) || stateElement.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        string state = stateElement.GetString()!;
        var rows = new List<(string, string)> { ("device", (Text(status, "deviceId") ?? device) is { } name ? $"{name} ({source})" : source) };
        if (state == "offline")
        {
            rows.Add(("state", "offline (the agent is not connected to the broker)"));
        }
        else if (status.TryGetProperty("progress", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            rows.Add(("state", $"{state}: stage {Number(p, "stage")}, epoch {Number(p, "epoch")}/{Number(p, "epochs")}"));
        }
        else
        {
            rows.Add(("state", state));
        }

        int version = status.TryGetProperty("deployedVersion", out var v) && v.TryGetInt32(out int n) ? n : 0;
        rows.Add(("version", version == 0 ? "none yet" : version.ToString(CultureInfo.InvariantCulture)));
        rows.Add(("tasks learned", Number(status, "tasksLearned")));
        rows.Add(("queue", Number(status, "queueLength")));
        rows.Add(("last error", Text(status, "lastError") ?? "-"));
        if (status.TryGetProperty("accuracy", out var accuracy) && accuracy.ValueKind == JsonValueKind.Object)
        {
            var figures = accuracy.EnumerateObject().Select(a => (a.Name, Value: a.Value.ValueKind == JsonValueKind.Number ? a.Value.GetDouble() : double.NaN)).ToList();
            int width = figures.Count == 0 ? 0 : figures.Max(f => f.Name.Length);
            bool first = true;
            foreach (var (task, percent) in figures)
            {
                string figure = double.IsFinite(percent) ? percent.ToString("0.0", CultureInfo.InvariantCulture) + "%" : "n/a";
                rows.Add((first ? "accuracy" : string.Empty, $"{task.PadRight(width)} {figure,6}"));
                first = false;
            }
        }

        if (status.TryGetProperty("time", out var time) && time.TryGetDateTimeOffset(out var at))
        {
            double ago = Math.Max(0, (now - at).TotalSeconds);
            rows.Add(("updated", $"{at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC ({Ago(ago)})"));
        }

        return rows;
    }

    private static string Ago(double seconds) => seconds switch
    {
        < 1 => "just now",
        < 120 => $"{seconds:0} s ago",
        < 7200 => $"{seconds / 60:0} min ago",
        < 172800 => $"{seconds / 3600:0} h ago",
        _ => $"{seconds / 86400:0} days ago",
    };

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetRawText() : "?";

    private static async Task<int> MqttAsync(StatusView view, string address, string device, BrokerLogin? login, string root, bool watch, TimeSpan wait, TextWriter error, CancellationToken cancellationToken)
    {
        var (host, port) = BrokerAddress.Parse(address);
        string topic = Topics.StatusOf(root, device);
        var updates = Channel.CreateUnbounded<byte[]>();
        using var client = new MqttClientFactory().CreateMqttClient();
        bool closing = false;
        client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Topic == topic)
            {
                updates.Writer.TryWrite(e.ApplicationMessage.Payload.ToArray());
            }

            return Task.CompletedTask;
        };
        client.DisconnectedAsync += e =>
        {
            if (!Volatile.Read(ref closing))
            {
                updates.Writer.TryComplete(new IOException($"the broker {host}:{port} closed the connection ({e.Reason})"));
            }

            return Task.CompletedTask;
        };

        using (var connecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            connecting.CancelAfter(wait);
            try
            {
                await client.ConnectOrExplainAsync(new MqttClientOptionsBuilder()
                    .WithTcpServer(host, port)
                    .WithProtocolVersion(MqttProtocolVersion.V500)
                    .WithClientId($"became-status-{Guid.NewGuid():N}")
                    .WithCleanStart()
                    .WithLogin(login)
                    .Build(), host, port, login, connecting.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                await error.WriteLineAsync($"became status: no connection to the broker {host}:{port} within {Seconds(wait)}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(topic, MqttQualityOfServiceLevel.AtLeastOnce).Build(), connecting.Token).ConfigureAwait(false);
        }

        try
        {
            byte[] first;
            using (var firstWait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                firstWait.CancelAfter(wait);
                try
                {
                    first = await updates.Reader.ReadAsync(firstWait.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    await error.WriteLineAsync($"became status: no status from device '{device}' on {host}:{port} within {Seconds(wait)} (no agent with that id has connected to this broker; check --device and --topic-root)").ConfigureAwait(false);
                    return ExitCodes.Failure;
                }
            }

            string source = $"mqtt {host}:{port}";
            if (!await view.ShowAsync(source, first, error).ConfigureAwait(false))
            {
                return ExitCodes.Failure;
            }

            if (!watch)
            {
                return ExitCodes.Ok;
            }

            await foreach (byte[] next in updates.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await view.ShowAsync(source, next, error).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }
        finally
        {
            Volatile.Write(ref closing, true);
            if (client.IsConnected)
            {
                using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), quick.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or MQTTnet.Exceptions.MqttCommunicationException)
                {
                    // Leaving anyway.
                }
            }
        }
    }

    private static async Task<int> HttpAsync(StatusView view, string url, string? token, bool watch, TimeSpan wait, TextWriter error, CancellationToken cancellationToken)
    {
        var endpoint = new Uri(url.TrimEnd('/') + "/status");
        using var http = new HttpClient { Timeout = wait };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        string source = url;
        while (true)
        {
            HttpResponseMessage response;
            try
            {
                response = await http.GetAsync(endpoint, cancellationToken).ConfigureAwait(false);
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                await error.WriteLineAsync($"became status: no answer from {url} within {Seconds(wait)}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            using (response)
            {
                byte[] body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    string why = response.StatusCode switch
                    {
                        HttpStatusCode.NotFound => " (this agent has no /status endpoint; ask over MQTT with --broker HOST:PORT --device ID)",
                        HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => token is null ? " (the agent requires --token)" : " (wrong --token)",
                        _ => string.Empty,
                    };
                    await error.WriteLineAsync($"became status: GET {endpoint} answered HTTP {(int)response.StatusCode}{why}").ConfigureAwait(false);
                    return ExitCodes.Failure;
                }

                if (!await view.ShowAsync(source, body, error).ConfigureAwait(false))
                {
                    return ExitCodes.Failure;
                }
            }

            if (!watch)
            {
                return ExitCodes.Ok;
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string Seconds(TimeSpan wait) => $"{wait.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s";

    /// <summary>Prints each status that differs from the last one shown (ignoring its time): a table, or the raw JSON.</summary>
    private sealed class StatusView(TextWriter output, bool json, bool redraw, string? device)
    {
        private string? _shown;

        /// <summary>False (with one line on <paramref name="error"/>) when the payload is not a status.</summary>
        public async Task<bool> ShowAsync(string source, byte[] payload, TextWriter error)
        {
            var rows = Rows(device, source, payload, DateTimeOffset.UtcNow);
            if (rows is null)
            {
                await error.WriteLineAsync($"became status: {source} sent something that is not a status: {Encoding.UTF8.GetString(payload.AsSpan(0, Math.Min(payload.Length, 200)))}").ConfigureAwait(false);
                return false;
            }

            // Over HTTP every answer is fresh; only a change of what it says is worth printing again.
            string identity = string.Join('\n', rows.Where(r => r.Name != "updated").Select(r => $"{r.Name}\t{r.Value}"));
            if (identity == _shown)
            {
                return true;
            }

            if (redraw && !json)
            {
                // A terminal: the table replaces the last one in place.
                await output.WriteAsync("\u001b[H\u001b[2J").ConfigureAwait(false);
            }
            else if (_shown is not null && !json)
            {
                await output.WriteLineAsync().ConfigureAwait(false);
            }

            _shown = identity;
            if (json)
            {
                await output.WriteLineAsync(Encoding.UTF8.GetString(payload).Trim()).ConfigureAwait(false);
            }
            else
            {
                int width = rows.Max(r => r.Name.Length) + 2;
                foreach (var (name, value) in rows)
                {
                    await output.WriteLineAsync(name.PadRight(width) + value).ConfigureAwait(false);
                }
            }

            await output.FlushAsync().ConfigureAwait(false);
            return true;
        }
    }
}
