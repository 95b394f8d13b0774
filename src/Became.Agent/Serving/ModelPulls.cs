using System.Globalization;
using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Mqtt;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Serving;

/// <summary>What a models/pull request asks for.</summary>
/// <param name="Version">The version (null: the deployed one).</param>
/// <param name="State">Whether the learner state comes with it (a <see cref="VersionStateFile"/>).</param>
/// <param name="Offset">The first byte of the state to send.</param>
/// <param name="Length">How many bytes of the state (null: to its end).</param>
/// <param name="Format">The model format (null: safetensors).</param>
public sealed record PullRequest(int? Version, bool State, long Offset, int? Length, string? Format);

/// <summary>
/// The answers to models/pull: the model in a registered format (<see cref="ModelExporters"/>), or the version with its
/// learner state in pieces.
/// </summary>
public sealed class ModelPulls(AgentStore store, ModelExporters exporters, IMqttReplies connection, IOptions<AgentOptions> options, ILogger<ModelPulls> logger)
{
    private readonly AgentOptions _options = options.Value;

    // The last state file built for a pull with "state": true, so its chunks do not each rebuild it.
    private readonly Lock _stateGate = new();
    private (int Version, string Blob, byte[] File, string Sha256)? _stateFile;

    /// <summary>Replies to <paramref name="message"/> (which has a response topic) with <paramref name="record"/> as asked.</summary>
    public async Task ReplyAsync(MqttIncomingMessage message, ModelVersionRecord record, PullRequest request, CancellationToken cancellationToken)
    {
        if (request.State)
        {
            await ReplyWithStateAsync(message, record, request.Offset, request.Length, cancellationToken).ConfigureAwait(false);
            return;
        }

        var exporter = exporters.Find(request.Format);
        var (bytes, sha256) = exporters.Export(exporter, record, store.Blobs.Get(record.ModelBlob));
        await connection.ReplyAsync(message.ResponseTopic!, message.CorrelationData, bytes,
            [new("version", record.Version.ToString(CultureInfo.InvariantCulture)), new("sha256", sha256)], cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Model version {Version} pulled as {Format} ({Bytes} bytes)", record.Version, exporter.Format, bytes.Length);
    }

    /// <summary>
    /// The version with its learner state (<see cref="VersionStateFile"/>), or the bytes [offset, offset + length) of it:
    /// every reply names the whole file's size and sha256, so a requester fetches it in pieces that fit its broker.
    /// </summary>
    private async Task ReplyWithStateAsync(MqttIncomingMessage message, ModelVersionRecord record, long offset, int? length, CancellationToken cancellationToken)
    {
        (int Version, string Blob, byte[] File, string Sha256) state;
        lock (_stateGate)
        {
            if (_stateFile is not { } cached || cached.Version != record.Version || cached.Blob != record.StateBlob)
            {
                byte[] built;
                try
                {
                    built = VersionStateFile.Build(store, record, _options);
                }
                catch (Exception e) when (e is InvalidDataException or FileNotFoundException or FormatException)
                {
                    throw new RequestRejectedException(ErrorCodes.CorruptVersion, $"Version {record.Version} cannot be handed out: {e.Message}");
                }

                _stateFile = (record.Version, record.StateBlob, built, BlobStore.Hash(built));
            }

            state = _stateFile.Value;
        }

        if (offset > state.File.Length)
        {
            throw new RequestRejectedException(ErrorCodes.BadRequest, $"\"offset\" {offset} is past the end of the state ({state.File.Length} bytes).");
        }

        int count = (int)Math.Min(length ?? int.MaxValue, state.File.Length - offset);
        await connection.ReplyAsync(message.ResponseTopic!, message.CorrelationData, state.File.AsMemory((int)offset, count),
        [
            new("version", record.Version.ToString(CultureInfo.InvariantCulture)),
            new("sha256", state.Sha256),
            new("size", state.File.Length.ToString(CultureInfo.InvariantCulture)),
            new("offset", offset.ToString(CultureInfo.InvariantCulture)),
        ], cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Model version {Version} with its state pulled: bytes {Offset}..{End} of {Bytes}", record.Version, offset, offset + count, state.File.Length);
    }

    /// <summary>
    /// A pull: empty for the deployed model; {"version": n} for one version, with an optional "format" (an exporter's;
    /// safetensors by default); "state": true adds the learner state (the version defaults to the deployed one), with
    /// optional "offset" and "length" for one piece of it.
    /// </summary>
    public static PullRequest Parse(ReadOnlyMemory<byte> payload)
    {
        if (payload.IsEmpty || payload.Span.Trim((byte)' ').IsEmpty)
        {
            return new PullRequest(null, false, 0, null, null);
        }

        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new RequestRejectedException(ErrorCodes.BadRequest, "Expected {\"version\": n} with n an integer.");
            }

            bool state = root.TryGetProperty("state", out var s) && (s.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? s.GetBoolean()
                : throw new RequestRejectedException(ErrorCodes.BadRequest, "\"state\" must be true or false."));
            int? version = root.TryGetProperty("version", out var v)
                ? v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) ? n : throw new RequestRejectedException(ErrorCodes.BadRequest, "Expected {\"version\": n} with n an integer.")
                : state || root.TryGetProperty("format", out _) ? null : throw new RequestRejectedException(ErrorCodes.BadRequest, "Expected {\"version\": n} with n an integer.");
            long offset = root.TryGetProperty("offset", out var o)
                ? o.ValueKind == JsonValueKind.Number && o.TryGetInt64(out long at) && at >= 0 && state ? at : throw new RequestRejectedException(ErrorCodes.BadRequest, "\"offset\" is a byte position (0 or more) of the state, with \"state\": true.")
                : 0;
            int? length = root.TryGetProperty("length", out var l)
                ? l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out int count) && count > 0 && state ? count : throw new RequestRejectedException(ErrorCodes.BadRequest, "\"length\" is a positive byte count, with \"state\": true.")
                : null;
            string? format = root.TryGetProperty("format", out var f)
                ? f.ValueKind == JsonValueKind.String && !state ? f.GetString() : throw new RequestRejectedException(ErrorCodes.BadRequest, "\"format\" is a model format name (e.g. \"safetensors\"), without \"state\": true.")
                : null;
            return new PullRequest(version, state, offset, length, format);
        }
        catch (JsonException e)
        {
            throw new RequestRejectedException(ErrorCodes.BadRequest, $"Invalid JSON: {e.Message}");
        }
    }
}
