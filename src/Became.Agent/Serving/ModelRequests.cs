using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Jobs;
using Became.Agent.Messaging;
using Became.Agent.Mqtt;
using Became.Agent.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Serving;

/// <summary>
/// MQTT 5 request/response on became/{deviceId}/models/pull, /infer and /cmd/rollback: the reply goes to the
/// request's response topic with its correlation data; a request without a response topic can get no reply, so it
/// is answered with a <c>request.rejected</c> event instead (a rollback without one is still carried out).
/// </summary>
public sealed class ModelRequests(
    AgentStore store,
    InferenceService inference,
    TrainingWorker worker,
    AgentEvents events,
    MqttConnection connection,
    IOptions<AgentOptions> options,
    ILogger<ModelRequests> logger)
{
    private readonly AgentOptions _options = options.Value;

    public IReadOnlyList<string> Topics => [_options.Topic("models/pull"), _options.Topic("infer"), _options.Topic("cmd/rollback")];

    public bool Handles(string topic) => Topics.Contains(topic);

    public async Task HandleAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        // Requests are answered, not stored: acknowledge first so a slow answer never blocks the session.
        await message.AcknowledgeAsync(cancellationToken).ConfigureAwait(false);
        string kind = message.Topic[(_options.Topic(string.Empty).Length)..];
        try
        {
            if (message.Payload.Length > _options.Limits.MaxRequestBytes)
            {
                throw new RequestRejectedException("too_large", $"The request is {message.Payload.Length} bytes; Limits:MaxRequestBytes is {_options.Limits.MaxRequestBytes}.");
            }

            switch (kind)
            {
                case "models/pull":
                    await PullAsync(message, cancellationToken).ConfigureAwait(false);
                    break;
                case "infer":
                    var (taskId, inputs, count) = inference.Parse(message.Payload);
                    var result = inference.Predict(taskId, inputs, count);
                    await ReplyJsonAsync(message, result, [("version", result.Version.ToString(System.Globalization.CultureInfo.InvariantCulture))], cancellationToken).ConfigureAwait(false);
                    break;
                case "cmd/rollback":
                    int version = RequestedVersion(message.Payload) ?? throw new RequestRejectedException("bad_request", "A rollback needs {\"version\": n}.");
                    var record = await worker.RollbackAsync(version, cancellationToken).ConfigureAwait(false)
                        ?? throw new RequestRejectedException("unknown_version", $"There is no version {version}.");
                    await ReplyJsonAsync(message, new { version = record.Version, deployed = record.Deployed, queued = record.Queued }, [], cancellationToken).ConfigureAwait(false);
                    break;
            }
        }
        catch (RequestRejectedException e)
        {
            await RejectAsync(message, kind, e.Code, e.Message, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task PullAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        int? wanted = RequestedVersion(message.Payload);
        var record = wanted is int v ? store.FindVersion(v) : store.Deployed();
        if (record is null)
        {
            throw wanted is null
                ? new RequestRejectedException("no_model", "No model is deployed yet.")
                : new RequestRejectedException("unknown_version", $"There is no version {wanted}.");
        }

        if (NoResponseTopic(message))
        {
            await RejectAsync(message, "models/pull", "no_response_topic", "A pull needs an MQTT 5 response topic.", cancellationToken).ConfigureAwait(false);
            return;
        }

        byte[] file = store.Blobs.Get(record.ModelBlob);
        await connection.ReplyAsync(message.ResponseTopic!, message.CorrelationData, file,
            [new("version", record.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)), new("sha256", record.ModelBlob)], cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Model version {Version} pulled ({Bytes} bytes)", record.Version, file.Length);
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
            return document.RootElement.TryGetProperty("version", out var v) && v.TryGetInt32(out int n) ? n
                : throw new RequestRejectedException("bad_request", "Expected {\"version\": n}.");
        }
        catch (JsonException e)
        {
            throw new RequestRejectedException("bad_request", $"Invalid JSON: {e.Message}");
        }
    }

    private static bool NoResponseTopic(MqttIncomingMessage message) => string.IsNullOrEmpty(message.ResponseTopic);

    private async Task ReplyJsonAsync<T>(MqttIncomingMessage message, T body, IReadOnlyList<(string, string)> properties, CancellationToken cancellationToken)
    {
        if (NoResponseTopic(message))
        {
            return;
        }

        await connection.ReplyAsync(message.ResponseTopic!, message.CorrelationData, JsonSerializer.SerializeToUtf8Bytes(body, AgentEvents.Json),
            properties.Select(p => new KeyValuePair<string, string>(p.Item1, p.Item2)).ToList(), cancellationToken).ConfigureAwait(false);
    }

    private async Task RejectAsync(MqttIncomingMessage message, string kind, string code, string text, CancellationToken cancellationToken)
    {
        logger.LogWarning("Request on {Kind} refused: {Code}: {Message}", kind, code, text);
        if (NoResponseTopic(message))
        {
            await events.PublishAsync(EventTypes.RequestRejected, null, new Dictionary<string, object?> { ["request"] = kind, ["reason"] = code, ["message"] = text }, cancellationToken).ConfigureAwait(false);
            return;
        }

        await connection.ReplyAsync(message.ResponseTopic!, message.CorrelationData, JsonSerializer.SerializeToUtf8Bytes(new { error = code, message = text }, AgentEvents.Json),
            [new("error", code)], cancellationToken).ConfigureAwait(false);
    }
}
