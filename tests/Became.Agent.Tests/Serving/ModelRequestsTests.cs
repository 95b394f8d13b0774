using System.Text;
using System.Text.Json;
using Became.Agent.Mqtt;
using Became.Agent.Protocol;
using Became.Agent.Serving;
using Became.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Became.Agent.Tests.Serving;

/// <summary>The MQTT request handlers on a real store, without a broker: replies and refusals as they would go out.</summary>
public sealed class ModelRequestsTests : IDisposable
{
    private readonly Replies _replies = new();
    private readonly UnitRig _rig;
    private readonly ModelRequests _requests;

    public ModelRequestsTests()
    {
        _rig = new UnitRig(services: s => s.AddSingleton<IMqttReplies>(_replies));
        _requests = _rig.Get<ModelRequests>();
    }

    public void Dispose() => _rig.Dispose();

    private string Topic(string suffix) => _rig.Options.Value.Topic(suffix);

    private Task HandleAsync(string suffix, string payload, string? responseTopic = "app/replies") =>
        _requests.HandleAsync(new MqttIncomingMessage(Topic(suffix), Encoding.UTF8.GetBytes(payload), _ => Task.CompletedTask)
        {
            ResponseTopic = responseTopic,
            CorrelationData = new byte[] { 7 },
        }, CancellationToken.None);

    [Fact]
    public async Task Pull_of_a_stored_version_replies_with_its_file_version_and_sha256()
    {
        var version = _rig.CommitStandIn("a");

        await HandleAsync(Topics.ModelsPull, string.Empty);

        var reply = Assert.Single(_replies.All);
        Assert.Equal("app/replies", reply.Topic);
        Assert.Equal([7], reply.Correlation);
        Assert.Equal(_rig.Store.Blobs.Get(version.ModelBlob), reply.Payload);
        Assert.Contains(new KeyValuePair<string, string>("sha256", version.ModelBlob), reply.Properties);
        Assert.Contains(new KeyValuePair<string, string>("version", "1"), reply.Properties);
    }

    [Fact]
    public async Task Pull_as_safetensors_is_the_stored_model_file()
    {
        var version = _rig.CommitStandIn("a");

        await HandleAsync(Topics.ModelsPull, """{"format": "safetensors"}""");

        var reply = Assert.Single(_replies.All);
        Assert.Null(reply.Error);
        Assert.Equal(_rig.Store.Blobs.Get(version.ModelBlob), reply.Payload);
        Assert.Contains(new KeyValuePair<string, string>("sha256", version.ModelBlob), reply.Properties);
    }

    [Fact]
    public async Task Pull_in_an_unknown_format_is_a_bad_request_naming_the_formats_the_device_exports()
    {
        _rig.CommitStandIn("a");

        await HandleAsync(Topics.ModelsPull, """{"version": 1, "format": "tflite"}""");

        var reply = Assert.Single(_replies.All);
        Assert.Equal(ErrorCodes.BadRequest, reply.Error);
        using var body = JsonDocument.Parse(reply.Payload);
        Assert.Equal("Unknown model format 'tflite'; this device exports: safetensors.", body.RootElement.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Pull_before_any_model_and_rollback_to_an_unknown_version_reply_with_their_error_codes()
    {
        await HandleAsync(Topics.ModelsPull, string.Empty);
        await HandleAsync(Topics.Rollback, """{"version": 5}""");

        Assert.Equal([ErrorCodes.NoModel, ErrorCodes.UnknownVersion], _replies.All.Select(r => r.Error));
    }

    [Fact]
    public async Task Rollback_during_a_job_replies_queued()
    {
        var v1 = _rig.CommitStandIn("a");
        _rig.CommitStandIn("b");
        Assert.True(_rig.Queue.TryBeginJob());

        await HandleAsync(Topics.Rollback, $$"""{"version": {{v1.Version}}}""");

        Assert.Equal("""{"version":1,"deployed":false,"queued":true}""", Encoding.UTF8.GetString(Assert.Single(_replies.All).Payload));
    }

    [Fact]
    public async Task Infer_without_a_response_topic_and_a_reply_aimed_at_a_device_topic_become_events_not_replies()
    {
        await HandleAsync(Topics.Infer, """{"taskId": "a", "inputs": [[0.5]]}""", responseTopic: null);
        await HandleAsync(Topics.ModelsPull, string.Empty, responseTopic: "became/other-device/tasks/x");

        Assert.Empty(_replies.All);
        Assert.Equal([ErrorCodes.NoResponseTopic, ErrorCodes.BadResponseTopic],
            _rig.Events.All.Where(e => e.Type == EventTypes.RequestRejected).Select(e => e.Body.GetProperty("reason").GetString()));
    }

    /// <summary>Replies as the connection would publish them.</summary>
    private sealed class Replies : IMqttReplies
    {
        private readonly List<(string Topic, byte[] Correlation, byte[] Payload, IReadOnlyList<KeyValuePair<string, string>> Properties, string? Error)> _all = [];

        public IReadOnlyList<(string Topic, byte[] Correlation, byte[] Payload, IReadOnlyList<KeyValuePair<string, string>> Properties, string? Error)> All => _all;

        public Task ReplyAsync(string responseTopic, ReadOnlyMemory<byte> correlationData, ReadOnlyMemory<byte> payload, IReadOnlyList<KeyValuePair<string, string>> userProperties, CancellationToken cancellationToken)
        {
            string? error = userProperties.Any(p => p.Key == "error") ? JsonDocument.Parse(payload).RootElement.GetProperty("error").GetString() : null;
            _all.Add((responseTopic, correlationData.ToArray(), payload.ToArray(), userProperties, error));
            return Task.CompletedTask;
        }
    }
}
