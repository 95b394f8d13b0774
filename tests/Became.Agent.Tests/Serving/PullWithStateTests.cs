using System.Text;
using System.Text.Json;
using Became.Agent.Deployment;
using Became.Agent.Mqtt;
using Became.Agent.Protocol;
using Became.Agent.Serving;
using Became.Agent.Storage;
using Became.Core.Serialization;
using Became.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Became.Agent.Tests.Serving;

/// <summary>models/pull with "state": true on a real store, without a broker: the version with its learner state as one
/// file, in pieces by offset and length; the plain pull is unchanged.</summary>
public sealed class PullWithStateTests : IDisposable
{
    private readonly Replies _replies = new();
    private readonly UnitRig _rig;
    private readonly ModelRequests _requests;

    public PullWithStateTests()
    {
        _rig = new UnitRig(services: s => s.AddSingleton<IMqttReplies>(_replies));
        _requests = _rig.Get<ModelRequests>();
    }

    public void Dispose() => _rig.Dispose();

    [Fact]
    public async Task Pull_with_state_in_pieces_reassembles_the_file_with_the_sha256_every_piece_names()
    {
        var version = CommitVersion("a");

        await HandleAsync("""{"state": true}""");
        var whole = Assert.Single(_replies.All);
        string sha = Property(whole, "sha256");
        Assert.Equal(BlobStore.Hash(whole.Payload), sha);
        Assert.Equal(version.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), Property(whole, "version"));
        Assert.Equal(whole.Payload.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), Property(whole, "size"));

        var pieces = new List<byte>();
        for (int offset = 0; offset < whole.Payload.Length; offset += 100)
        {
            await HandleAsync($$"""{"version": 1, "state": true, "offset": {{offset}}, "length": 100}""");
            var piece = _replies.All[^1];
            Assert.Null(piece.Error);
            Assert.Equal(sha, Property(piece, "sha256"));
            pieces.AddRange(piece.Payload);
        }

        Assert.Equal(whole.Payload, pieces.ToArray());
        var state = VersionStateFile.Read(whole.Payload);
        Assert.Equal(["a"], state.Tasks.Select(t => t.Id));
        Assert.True(state.Tasks[0].TestSet);
        Assert.NotNull(state.File.Find("model.shared.0.weight"));
        Assert.NotNull(state.File.Find("fisher.shared.0.weight"));
        Assert.NotNull(state.File.Find("test.0.x"));
        Assert.Equal(_rig.Store.FindTask("a")!.PayloadSha256, state.Tasks[0].PayloadSha256);

        // The plain pull still returns the bare model file.
        await HandleAsync("""{"version": 1}""");
        Assert.Equal(_rig.Store.Blobs.Get(version.ModelBlob), _replies.All[^1].Payload);
    }

    [Theory]
    [InlineData("""{}""")]
    [InlineData("""{"state": "yes"}""")]
    [InlineData("""{"version": 1, "offset": 0}""")]
    [InlineData("""{"state": true, "offset": -1}""")]
    [InlineData("""{"state": true, "length": 0}""")]
    [InlineData("""{"state": true, "offset": 100000000}""")]
    public async Task Pull_with_a_malformed_state_request_is_a_bad_request(string request)
    {
        CommitVersion("a");

        await HandleAsync(request);

        Assert.Equal(ErrorCodes.BadRequest, Assert.Single(_replies.All).Error);
    }

    [Fact]
    public async Task Pull_with_state_of_an_unknown_version_is_unknown_version()
    {
        CommitVersion("a");

        await HandleAsync("""{"version": 4, "state": true}""");

        Assert.Equal(ErrorCodes.UnknownVersion, Assert.Single(_replies.All).Error);
    }

    private ModelVersionRecord CommitVersion(string taskId)
    {
        static SafeTensor F32(string name, params long[] shape) =>
            new(name, SafeTensorDType.F32, shape, new byte[4 * (int)SafeTensorDType.ElementCount(shape)]);

        var task = _rig.Store.AddTask(taskId, null, 2, 100, 0.1, [1, 2, 3]);
        byte[] model = SafeTensorsFile.Write([F32("shared.0.weight", 3, 4), F32("heads.0.weight", 2, 3)], new Dictionary<string, string> { ["architecture"] = "{\"kind\":\"mlp\"}", ["normalization"] = "{}" });
        byte[] state = SafeTensorsFile.Write([F32("memory.0", 4, 1), F32("fisher.shared.0.weight", 3, 4), F32("fisher.heads.0.weight", 2, 3)]);
        byte[] test = SafeTensorsFile.Write([F32("x", 10, 4), new SafeTensor("y", SafeTensorDType.I64, [10], new byte[80])]);
        return _rig.Store.Commit(new CommittedTask(task, _rig.Store.NextVersion(), 0, model, state, test, [2], null, [1], new Dictionary<string, double> { [taskId] = 90 }, 1));
    }

    private Task HandleAsync(string payload) =>
        _requests.HandleAsync(new MqttIncomingMessage(_rig.Options.Value.Topic(Topics.ModelsPull), Encoding.UTF8.GetBytes(payload), _ => Task.CompletedTask)
        {
            ResponseTopic = "app/replies",
            CorrelationData = new byte[] { 7 },
        }, CancellationToken.None);

    private static string Property((byte[] Payload, IReadOnlyList<KeyValuePair<string, string>> Properties, string? Error) reply, string name) =>
        reply.Properties.Single(p => p.Key == name).Value;

    /// <summary>Replies as the connection would publish them.</summary>
    private sealed class Replies : IMqttReplies
    {
        private readonly List<(byte[] Payload, IReadOnlyList<KeyValuePair<string, string>> Properties, string? Error)> _all = [];

        public IReadOnlyList<(byte[] Payload, IReadOnlyList<KeyValuePair<string, string>> Properties, string? Error)> All => _all;

        public Task ReplyAsync(string responseTopic, ReadOnlyMemory<byte> correlationData, ReadOnlyMemory<byte> payload, IReadOnlyList<KeyValuePair<string, string>> userProperties, CancellationToken cancellationToken)
        {
            string? error = userProperties.Any(p => p.Key == "error") ? JsonDocument.Parse(payload).RootElement.GetProperty("error").GetString() : null;
            _all.Add((payload.ToArray(), userProperties, error));
            return Task.CompletedTask;
        }
    }
}
