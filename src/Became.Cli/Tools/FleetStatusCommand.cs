using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Became.Protocol;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Cli.Tools;

/// <summary><c>became fleet status</c>: every device's retained status (became/+/status) as one line each, optionally
/// filtered by group, as JSON, or followed live.</summary>
public static class FleetStatusCommand
{
    /// <summary>Where the marker cannot be published (an ACL), the retained statuses count as all collected once none
    /// has come for this long.</summary>
    internal static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest the collection of retained statuses may take (a broker still sending them after that is slow
    /// or the fleet is huge; what came is shown).</summary>
    internal static readonly TimeSpan MaxCollection = TimeSpan.FromSeconds(10);

    internal static Command Create()
    {
        var broker = CommonOptions.Broker();
        broker.Required = true;
        var group = new Option<string>("--group") { Description = "only the devices of group G (setting Groups)", HelpName = "G" };
        var watch = new Option<bool>("--watch") { Description = "after the list, print every status change as it comes (until Ctrl-C)" };
        var json = new Option<bool>("--json") { Description = "JSON: an array of statuses (with --watch: one status object per line)" };
        var login = new BrokerLoginOptions();
        var topicRoot = CommonOptions.TopicRoot();
        var status = new Command("status", "list every device's retained status on became/+/status: state, deployed version, queue, tasks, groups, last seen")
        {
            broker, group, watch, json, topicRoot,
        };
        login.AddTo(status);
        status.SetAction(async (parsed, cancellationToken) =>
        {
            var (host, port) = BrokerAddress.Parse(parsed.GetRequiredValue(broker));
            var request = new FleetRequest(host, port, parsed.GetRequiredValue(topicRoot), parsed.GetValue(group), login.Read(parsed), parsed.GetValue(watch), parsed.GetValue(json));
            try
            {
                return await RunAsync(request, parsed.InvocationConfiguration.Output, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or MQTTnet.Exceptions.MqttCommunicationException)
            {
                await parsed.InvocationConfiguration.Error.WriteLineAsync($"became fleet status: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        });
        return new Command("fleet", "look at many devices on one broker") { status };
    }

    private sealed record FleetRequest(string Host, int Port, string TopicRoot, string? Group, BrokerLogin? Login, bool Watch, bool Json);

    private static async Task<int> RunAsync(FleetRequest request, TextWriter output, CancellationToken cancellationToken)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var received = Channel.CreateUnbounded<MqttApplicationMessage>();
        client.ApplicationMessageReceivedAsync += e =>
        {
            received.Writer.TryWrite(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(request.Host, request.Port)
            .WithClientId($"became-fleet-{Guid.NewGuid():N}")
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(true)
            .WithTimeout(TimeSpan.FromSeconds(30))
            .WithLogin(request.Login);
        await client.ConnectOrExplainAsync(builder.Build(), request.Host, request.Port, request.Login, cancellationToken).ConfigureAwait(false);

        // A marker of our own, published once the status subscription stands: the broker queues a subscription's
        // retained messages as it grants it, so the marker comes after all of them, however slowly they arrive. Under
        // the username's own topics (the fleet ACL lets every account write became/{itself}/...).
        string marker = Topics.Device(request.TopicRoot, request.Login?.Username ?? "fleet-cli", $"fleet-status/{Guid.NewGuid():N}");
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(marker, MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken).ConfigureAwait(false);
        string filter = Topics.EveryStatus(request.TopicRoot);
        var subscribed = await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken).ConfigureAwait(false);
        if (subscribed.Items.FirstOrDefault()?.ResultCode is not (MqttClientSubscribeResultCode.GrantedQoS0 or MqttClientSubscribeResultCode.GrantedQoS1 or MqttClientSubscribeResultCode.GrantedQoS2))
        {
            throw new IOException($"the broker refused the subscription to {filter} ({subscribed.Items.FirstOrDefault()?.ResultCode}); an operator account may read it");
        }

        var published = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(marker).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken).ConfigureAwait(false);
        bool markerSent = published.IsSuccess;
        var devices = new SortedDictionary<string, DeviceLine>(StringComparer.Ordinal);
        var collection = DateTime.UtcNow + MaxCollection;
        while (DateTime.UtcNow < collection)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(markerSent ? collection - DateTime.UtcNow : Min(Quiet, collection - DateTime.UtcNow));
            try
            {
                var message = await received.Reader.ReadAsync(wait.Token).ConfigureAwait(false);
                if (message.Topic == marker)
                {
                    break;
                }

                Apply(devices, message, request.TopicRoot);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }

        var shown = devices.Values.Where(d => request.Group is null || d.Groups.Contains(request.Group, StringComparer.Ordinal)).ToList();
        if (request.Json)
        {
            await output.WriteLineAsync(new JsonArray([.. shown.Select(d => d.ToJson())]).ToJsonString(new JsonSerializerOptions { WriteIndented = true })).ConfigureAwait(false);
        }
        else
        {
            await WriteTableAsync(output, shown, request, filter).ConfigureAwait(false);
        }

        if (request.Watch)
        {
            // Until Ctrl-C: every change of a shown device (new devices of the group too), one line each.
            while (true)
            {
                var message = await received.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                if (Apply(devices, message, request.TopicRoot) is { } line && (request.Group is null || line.Groups.Contains(request.Group, StringComparer.Ordinal)))
                {
                    await output.WriteLineAsync(request.Json ? line.ToJson().ToJsonString() : $"{DateTime.Now:HH:mm:ss} {line.Format(DateTimeOffset.UtcNow)}").ConfigureAwait(false);
                }
            }
        }

        await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b < TimeSpan.Zero ? TimeSpan.Zero : b;

    private static async Task WriteTableAsync(TextWriter output, List<DeviceLine> shown, FleetRequest request, string filter)
    {
        if (shown.Count == 0)
        {
            await output.WriteLineAsync($"no device{(request.Group is null ? "" : $" of group {request.Group}")} has a status on {filter} at {request.Host}:{request.Port}").ConfigureAwait(false);
            return;
        }

        var now = DateTimeOffset.UtcNow;
        await output.WriteLineAsync(DeviceLine.Header).ConfigureAwait(false);
        foreach (var device in shown)
        {
            await output.WriteLineAsync(device.Format(now)).ConfigureAwait(false);
        }

        int online = shown.Count(d => d.State != "offline");
        await output.WriteLineAsync($"{shown.Count} device{(shown.Count == 1 ? "" : "s")}: {online} online, {shown.Count - online} offline").ConfigureAwait(false);
    }

    // Updates the table from one status message; returns the device's new line, or null for a message that is not one.
    private static DeviceLine? Apply(SortedDictionary<string, DeviceLine> devices, MqttApplicationMessage message, string topicRoot)
    {
        if (Topics.DeviceOfStatus(topicRoot, message.Topic) is not string device)
        {
            return null;
        }

        if (message.Payload.IsEmpty)
        {
            // An empty retained message clears a decommissioned device's status.
            devices.Remove(device);
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(message.Payload);
            var line = DeviceLine.From(device, document.RootElement);
            if (line is not null)
            {
                devices[device] = line;
            }

            return line;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private sealed record DeviceLine(string Device, string State, int Version, int Queue, int Tasks, IReadOnlyList<string> Groups, string? LastError, DateTimeOffset? Time)
    {
        public const string Header = "DEVICE                 STATE     VERSION  QUEUE  TASKS  GROUPS           LAST SEEN";

        public static DeviceLine? From(string device, JsonElement status)
        {
            if (status.ValueKind != JsonValueKind.Object || !status.TryGetProperty("state", out var state) || state.ValueKind != JsonValueKind.String)
            {
                return null;
            }

            int Number(string name) => status.TryGetProperty(name, out var v) && v.TryGetInt32(out int n) ? n : 0;
            string[] groups = status.TryGetProperty("groups", out var g) && g.ValueKind == JsonValueKind.Array
                ? [.. g.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)]
                : [];
            DateTimeOffset? time = status.TryGetProperty("time", out var t) && t.TryGetDateTimeOffset(out var when) ? when : null;
            string? error = status.TryGetProperty("lastError", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
            return new DeviceLine(device, state.GetString()!, Number("deployedVersion"), Number("queueLength"), Number("tasksLearned"), groups, error, time);
        }

        // The last will carries the time of the session it ended (it is written at connect), so an offline line says
        // "offline, connected ... ago" rather than pretending to know when the connection was lost.
        public string Format(DateTimeOffset now)
        {
            string seen = Time is { } t ? Ago(now - t) : "?";
            string last = State == "offline" ? $"offline (last will; session from {seen})" : seen;
            string groups = Groups.Count == 0 ? "-" : string.Join(',', Groups);
            string error = LastError is null ? "" : $"  error: {(LastError.Length > 80 ? LastError[..80] + "..." : LastError)}";
            // The last will is written at connect, so its zero figures mean "not known" rather than "none".
            bool unknown = State == "offline" && Version == 0 && Queue == 0 && Tasks == 0;
            string Figure(int n) => unknown ? "-" : n.ToString(CultureInfo.InvariantCulture);
            return $"{Device,-22} {State,-9} {Figure(Version),7}  {Figure(Queue),5}  {Figure(Tasks),5}  {groups,-16} {last}{error}";
        }

        public JsonObject ToJson() => new()
        {
            ["device"] = Device,
            ["state"] = State,
            ["deployedVersion"] = Version,
            ["queueLength"] = Queue,
            ["tasksLearned"] = Tasks,
            ["groups"] = new JsonArray([.. Groups.Select(g => JsonValue.Create(g))]),
            ["lastError"] = LastError,
            ["time"] = Time,
        };

        private static string Ago(TimeSpan age) => age.TotalSeconds < 0 ? "just now"
            : age.TotalSeconds < 120 ? $"{age.TotalSeconds:0}s ago"
            : age.TotalMinutes < 120 ? $"{age.TotalMinutes:0}m ago"
            : age.TotalHours < 48 ? $"{age.TotalHours:0}h ago"
            : $"{age.TotalDays:0}d ago";
    }
}
