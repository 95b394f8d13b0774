using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Protocol;
using Became.Agent.Mqtt;
using Became.Agent.Observability;
using Became.Agent.Storage;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Serving;

/// <summary>
/// MQTT 5 request/response on became/{deviceId}/models/pull, /infer and /cmd/rollback: the reply goes to the
/// request's response topic with its correlation data; a request without a response topic can get no reply, so it
/// is answered with a <c>request.rejected</c> event instead (a rollback without one is still carried out). A response
/// topic that is a device's own input or output (tasks, commands, requests, events, status: a reply there would be
/// taken for one of those) is refused the same way, and nothing is published there.
/// </summary>
public sealed class ModelRequests(
    AgentStore store,
    ModelPulls pulls,
    InferenceService inference,
    VersionRollback rollback,
    IAgentEvents events,
    IMqttReplies connection,
    IOptions<AgentOptions> options,
    ILogger<ModelRequests> logger,
    AgentMetrics metrics,
    IModelAdoption adoption)
{
    /// <summary>Levels below became/{any device}/ that no reply may be published to (models/pull: the pair of levels).</summary>
    private static readonly HashSet<string> ReservedLevels = new(StringComparer.Ordinal) { "tasks", "cmd", "infer", "events", "status" };

    private readonly AgentOptions _options = options.Value;

    // Adoptions answered off the receive path, and their cancellation as the agent stops.
    private readonly HashSet<Task> _background = [];
    private readonly CancellationTokenSource _stopping = new();


    public IReadOnlyList<string> Topics => [_options.Topic(Became.Protocol.Topics.ModelsPull), _options.Topic(Became.Protocol.Topics.Infer), _options.Topic(Became.Protocol.Topics.Rollback), _options.Topic(Became.Protocol.Topics.Adopt)];

    public bool Handles(string topic) => Topics.Contains(topic);

    public async Task HandleAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        // Requests are answered, not stored: acknowledge first so a slow answer never blocks the session.
        await message.AcknowledgeAsync(cancellationToken).ConfigureAwait(false);
        string kind = message.Topic[(_options.Topic(string.Empty).Length)..];
        try
        {
            if (!NoResponseTopic(message) && ResponseTopicProblem(message.ResponseTopic!, _options.TopicRoot) is { } problem)
            {
                // Nothing is carried out or published: the requester asked for a reply where it would act as a command.
                await RejectWithEventAsync(kind, ErrorCodes.BadResponseTopic, problem, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (message.Payload.Length > _options.Limits.MaxRequestBytes)
            {
                throw new RequestRejectedException(ErrorCodes.TooLarge, $"The request is {message.Payload.Length} bytes; Limits:MaxRequestBytes is {_options.Limits.MaxRequestBytes}.");
            }

            switch (kind)
            {
                case Became.Protocol.Topics.ModelsPull:
                    await PullAsync(message, cancellationToken).ConfigureAwait(false);
                    break;
                case Became.Protocol.Topics.Infer:
                    if (NoResponseTopic(message))
                    {
                        // The answer could go nowhere: say so rather than compute it.
                        await RejectAsync(message, kind, ErrorCodes.NoResponseTopic, "An infer request needs an MQTT 5 response topic.", cancellationToken).ConfigureAwait(false);
                        break;
                    }

                    var result = metrics.MeasureInference(InferenceTransport.Mqtt, () => inference.Answer(message.Payload));
                    await ReplyJsonAsync(message, result, [("version", result.Version.ToString(System.Globalization.CultureInfo.InvariantCulture))], cancellationToken).ConfigureAwait(false);
                    break;
                case Became.Protocol.Topics.Rollback:
                    int version = RequestedVersion(message.Payload) ?? throw new RequestRejectedException(ErrorCodes.BadRequest, "A rollback needs {\"version\": n}.");
                    var record = await rollback.RequestAsync(version, cancellationToken).ConfigureAwait(false)
                        ?? throw new RequestRejectedException(ErrorCodes.UnknownVersion, $"There is no version {version}.");
                    await ReplyJsonAsync(message, new RollbackReply(record.Version, record.Deployed, record.Queued), [], cancellationToken).ConfigureAwait(false);
                    break;
                case Became.Protocol.Topics.Adopt:
                    var (from, fromVersion) = AdoptRequest(message.Payload);
                    // The fetch takes a round trip per chunk: off the receive path, so tasks and infer requests keep flowing;
                    // kept, so the agent's stop waits for it rather than dispose the store under it.
                    Track(AdoptAsync(message, adoption, from, fromVersion, _stopping.Token));
                    break;
            }
        }
        catch (RequestRejectedException e)
        {
            await RejectAsync(message, kind, e.Code, e.Message, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            // Acknowledged already, so never redelivered: the requester must still hear that it failed.
            logger.LogError(e, "Request on {Kind} failed", kind);
            await RejectAsync(message, kind, ErrorCodes.InternalError, "The device failed to answer this request; its log has the details.", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Why no reply may be published to <paramref name="topic"/>, or null: it must be a topic name (no wildcards, not
    /// a broker $ topic), and not any device's input or output under <paramref name="topicRoot"/>.
    /// </summary>
    internal static string? ResponseTopicProblem(string topic, string topicRoot)
    {
        string shown = topic.Length > 200 ? topic[..200] + "..." : topic;
        if (topic.AsSpan().IndexOfAny('+', '#', '\0') >= 0)
        {
            return $"The response topic '{shown}' is not a topic name (no wildcards or NUL).";
        }

        if (topic.StartsWith('$'))
        {
            return $"The response topic '{shown}' is a broker topic ($...).";
        }

        if (System.Text.Encoding.UTF8.GetByteCount(topic) > ushort.MaxValue)
        {
            return $"The response topic is longer than MQTT allows ({ushort.MaxValue} bytes).";
        }

        string[] levels = topic.Split('/');
        string[] root = topicRoot.Split('/');
        int below = root.Length + 1;
        if (levels.Length <= below || !levels.AsSpan(0, root.Length).SequenceEqual(root))
        {
            return null;
        }

        string level = levels[below];
        bool reserved = ReservedLevels.Contains(level) || (level == "models" && levels.Length > below + 1 && levels[below + 1] == "pull");
        return reserved
            ? $"The response topic '{shown}' is a device's {level} topic: a reply there would be taken for one of its messages."
            : null;
    }

    /// <summary>Cancels the adoptions in flight and waits for them to end (their requesters hear nothing, as with any
    /// request in flight at shutdown); called as the messaging stops, before the connection and the store go.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task[] running;
        lock (_background)
        {
            running = [.. _background];
        }

        await Task.WhenAll(running).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void Track(Task work)
    {
        lock (_background)
        {
            _background.Add(work);
        }

        _ = work.ContinueWith(
            done =>
            {
                lock (_background)
                {
                    _background.Remove(done);
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private async Task AdoptAsync(MqttIncomingMessage message, IModelAdoption adoption, string from, int? version, CancellationToken cancellationToken)
    {
        string kind = Became.Protocol.Topics.Adopt;
        try
        {
            var reply = await adoption.AdoptAsync(from, version, cancellationToken).ConfigureAwait(false);
            await ReplyJsonAsync(message, reply, [], cancellationToken).ConfigureAwait(false);
        }
        catch (RequestRejectedException e)
        {
            await RejectAsync(message, kind, e.Code, e.Message, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: the requester hears nothing, as with any request in flight at shutdown.
        }
        catch (Exception e)
        {
            logger.LogError(e, "Adoption from {Peer} failed", from);
            try
            {
                await RejectAsync(message, kind, ErrorCodes.InternalError, $"The adoption failed: {e.Message}", cancellationToken).ConfigureAwait(false);
            }
            catch (Exception replyError) when (replyError is not OperationCanceledException)
            {
                logger.LogError(replyError, "Could not answer the failed adoption from {Peer}", from);
            }
        }
    }

    /// <summary>{"from": "deviceId", "version": n} (version optional: the peer's deployed one).</summary>
    private static (string From, int? Version) AdoptRequest(ReadOnlyMemory<byte> payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("from", out var from) || from.ValueKind != JsonValueKind.String)
            {
                throw new RequestRejectedException(ErrorCodes.BadRequest, "An adoption needs {\"from\": \"deviceId\", \"version\": n}.");
            }

            int? version = null;
            if (root.TryGetProperty("version", out var v))
            {
                version = v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) ? n
                    : throw new RequestRejectedException(ErrorCodes.BadRequest, "\"version\" must be an integer.");
            }

            return (from.GetString()!, version);
        }
        catch (JsonException e)
        {
            throw new RequestRejectedException(ErrorCodes.BadRequest, $"Invalid JSON: {e.Message}");
        }
    }

    private async Task PullAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        var request = ModelPulls.Parse(message.Payload);
        var record = request.Version is int v ? store.FindVersion(v) : store.Deployed();
        if (record is null)
        {
            throw request.Version is null
                ? new RequestRejectedException(ErrorCodes.NoModel, "No model is deployed yet.")
                : new RequestRejectedException(ErrorCodes.UnknownVersion, $"There is no version {request.Version}.");
        }

        if (NoResponseTopic(message))
        {
            await RejectAsync(message, Became.Protocol.Topics.ModelsPull, ErrorCodes.NoResponseTopic, "A pull needs an MQTT 5 response topic.", cancellationToken).ConfigureAwait(false);
            return;
        }

        await pulls.ReplyAsync(message, record, request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>An empty payload means "the deployed one"; otherwise {"version": n}.</summary>
    private static int? RequestedVersion(ReadOnlyMemory<byte> payload)
    {
        if (payload.IsEmpty || payload.Span.Trim((byte)' ').IsEmpty)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;

            // TryGetProperty and TryGetInt32 throw, rather than say false, on a root that is no object or a value that is no number.
            return root.ValueKind == JsonValueKind.Object && root.TryGetProperty("version", out var v)
                && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) ? n
                : throw new RequestRejectedException(ErrorCodes.BadRequest, "Expected {\"version\": n} with n an integer.");
        }
        catch (JsonException e)
        {
            throw new RequestRejectedException(ErrorCodes.BadRequest, $"Invalid JSON: {e.Message}");
        }
    }

    private static bool NoResponseTopic(MqttIncomingMessage message) => string.IsNullOrEmpty(message.ResponseTopic);

    private async Task ReplyJsonAsync<T>(MqttIncomingMessage message, T body, IReadOnlyList<(string, string)> properties, CancellationToken cancellationToken)
    {
        if (NoResponseTopic(message))
        {
            return;
        }

        await connection.ReplyAsync(message.ResponseTopic!, message.CorrelationData, JsonSerializer.SerializeToUtf8Bytes(body, AgentJson.Options),
            properties.Select(p => new KeyValuePair<string, string>(p.Item1, p.Item2)).ToList(), cancellationToken).ConfigureAwait(false);
    }

    private async Task RejectAsync(MqttIncomingMessage message, string kind, string code, string text, CancellationToken cancellationToken)
    {
        if (NoResponseTopic(message))
        {
            await RejectWithEventAsync(kind, code, text, cancellationToken).ConfigureAwait(false);
            return;
        }

        logger.LogWarning("Request on {Kind} refused: {Code}: {Message}", kind, code, text);
        await connection.ReplyAsync(message.ResponseTopic!, message.CorrelationData, JsonSerializer.SerializeToUtf8Bytes(new ErrorReply(code, text), AgentJson.Options),
            [new("error", code)], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A refusal that cannot be a reply (no usable response topic) becomes a <c>request.rejected</c> event.</summary>
    private async Task RejectWithEventAsync(string kind, string code, string text, CancellationToken cancellationToken)
    {
        logger.LogWarning("Request on {Kind} refused: {Code}: {Message}", kind, code, text);
        await events.PublishAsync(null, new RequestRejected(Request: kind, Reason: code, Message: text), cancellationToken).ConfigureAwait(false);
    }
}
