using System.Globalization;
using System.Text;
using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Intake;
using Became.Agent.Mqtt;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Core.Models;
using Became.Core.Native;
using Became.Core.Serialization;
using Became.Core.Training;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Adoption;

/// <summary>
/// cmd/adopt: fetches a peer's version with its learner state (models/pull with "state": true, in chunks, through a
/// connection of its own), checks it (sha256, format, architecture and normalization equal to this device's Model:*,
/// no task id that means another payload here), then, as a command on the <see cref="DeploymentQueue"/> (queued behind a
/// job in flight, as a rollback is), writes it as a new local version, measures it on every held-out set it brings or
/// this device has, and hands it to the <see cref="VersionCommitter"/>, which gates it against the deployed version on
/// the tasks both know, commits it and serves the network that was measured. The next task continues from its bases,
/// importances, Fisher and heads.
/// </summary>
public sealed class ModelAdoption(
    AgentStore store,
    DeploymentQueue queue,
    VersionCommitter committer,
    HeldOutEvaluation heldOut,
    MqttRequester requester,
    ComputeDevice device,
    IOptions<AgentOptions> options,
    ILogger<ModelAdoption> logger) : IModelAdoption
{
    /// <summary>Largest state file accepted (a guard on the size a peer announces, before anything is allocated).</summary>
    public const long MaxStateBytes = 1L << 30;

    private readonly AgentOptions _options = options.Value;
    private int _inFlight;

    public async Task<AdoptReply> AdoptAsync(string from, int? version, CancellationToken cancellationToken)
    {
        if (!TaskIdRules.IsValid(from, out _))
        {
            throw new RequestRejectedException(ErrorCodes.BadRequest, "\"from\" must be a device id (1-128 letters, digits, '.', '_' or '-').");
        }

        if (from == _options.DeviceId)
        {
            throw new RequestRejectedException(ErrorCodes.BadRequest, "A device cannot adopt from itself; use cmd/rollback.");
        }

        if (version is <= 0)
        {
            throw new RequestRejectedException(ErrorCodes.UnknownVersion, $"There is no version {version}: versions start at 1.");
        }

        if (Interlocked.Exchange(ref _inFlight, 1) == 1)
        {
            throw new RequestRejectedException(ErrorCodes.Busy, "Another adoption is being fetched; try again when it has ended.");
        }

        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var (bytes, sha256) = await FetchAsync(from, version, cancellationToken).ConfigureAwait(false);
            double fetchSeconds = clock.Elapsed.TotalSeconds;
            var state = Check(from, version, bytes, sha256);
            logger.LogInformation("Fetched version {Version} of {Peer} with its state: {Bytes} bytes in {Seconds:F2} s, sha256 {Sha}", state.Version, from, bytes.Length, fetchSeconds, sha256);
            var source = new AdoptedFrom(from, state.Version);
            var command = new AdoptionCommand(this, state, source);
            if (queue.Submit(command))
            {
                return new AdoptReply(source, null, Deployed: false, Queued: true, state.Tasks.Select(t => t.Id).ToArray(), null);
            }

            await command.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
            logger.LogInformation("Adoption of version {Version} of {Peer} took {Seconds:F2} s", state.Version, from, clock.Elapsed.TotalSeconds);
            return command.Reply!;
        }
        finally
        {
            Volatile.Write(ref _inFlight, 0);
        }
    }

    /// <summary>The state file in chunks of Adopt:ChunkBytes, and the sha256 the peer gave for it.</summary>
    private async Task<(byte[] Bytes, string Sha256)> FetchAsync(string from, int? version, CancellationToken cancellationToken)
    {
        var timeout = TimeSpan.FromSeconds(_options.Adopt.TimeoutSeconds);
        string topic = Topics.Device(_options.TopicRoot, from, Topics.ModelsPull);
        try
        {
            await using var session = await requester.OpenAsync(_options.ReplyTopicPrefix(from), cancellationToken).ConfigureAwait(false);
            byte[]? file = null;
            string? sha = null;
            int? got = version;
            long offset = 0;
            do
            {
                string request = string.Create(CultureInfo.InvariantCulture,
                    $"{{{(got is int v ? $"\"version\": {v}, " : "")}\"state\": true, \"offset\": {offset}, \"length\": {_options.Adopt.ChunkBytes}}}");
                var reply = await session.RequestAsync(topic, Encoding.UTF8.GetBytes(request), timeout, cancellationToken).ConfigureAwait(false);
                if (reply.Properties.TryGetValue("error", out string? code))
                {
                    string text = PeerMessage(reply.Payload);
                    throw code is ErrorCodes.UnknownVersion or ErrorCodes.NoModel
                        ? new RequestRejectedException(ErrorCodes.UnknownVersion, $"Device {from} has no {(version is int n ? $"version {n}" : "deployed version")}: {text}")
                        : new RequestRejectedException(ErrorCodes.PeerError, $"Device {from} refused the pull: {code}: {text}");
                }

                if (!long.TryParse(reply.Properties.GetValueOrDefault("size"), NumberStyles.None, CultureInfo.InvariantCulture, out long size)
                    || !int.TryParse(reply.Properties.GetValueOrDefault("version"), NumberStyles.None, CultureInfo.InvariantCulture, out int replyVersion)
                    || reply.Properties.GetValueOrDefault("sha256") is not { Length: 64 } replySha)
                {
                    throw new RequestRejectedException(ErrorCodes.PeerError, $"Device {from} answered without the state's size, version and sha256 (does it support \"state\": true?).");
                }

                if (size > MaxStateBytes)
                {
                    throw new RequestRejectedException(ErrorCodes.TooLarge, $"Device {from}'s state is {size} bytes, more than {MaxStateBytes}.");
                }

                file ??= new byte[size];
                sha ??= replySha;
                got ??= replyVersion;
                if (size != file.Length || replySha != sha || replyVersion != got || reply.Payload.Length == 0 || offset + reply.Payload.Length > size)
                {
                    throw new RequestRejectedException(ErrorCodes.PeerError, $"Device {from}'s state changed or came out of order while it was fetched.");
                }

                reply.Payload.CopyTo(file, offset);
                offset += reply.Payload.Length;
            }
            while (offset < file.Length);

            return (file, sha!);
        }
        catch (TimeoutException)
        {
            throw new RequestRejectedException(ErrorCodes.PeerTimeout, $"Device {from} did not answer within {timeout.TotalSeconds:0.#} s (is it online, on this broker, under topic root {_options.TopicRoot}?).");
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or MQTTnet.Adapter.MqttConnectingFailedException)
        {
            throw new RequestRejectedException(ErrorCodes.PeerError, $"Could not reach the broker to fetch from {from}: {e.Message}");
        }
    }

    /// <summary>Everything that can be checked before the deployment lock: checksum, format, architecture, tasks.</summary>
    private VersionState Check(string from, int? version, byte[] bytes, string sha256)
    {
        string actual = BlobStore.Hash(bytes);
        if (actual != sha256)
        {
            throw new RequestRejectedException(ErrorCodes.ChecksumMismatch, $"The state fetched from {from} hashes to {actual}, not the sha256 {sha256} it came with; nothing was adopted.");
        }

        VersionState state;
        try
        {
            state = VersionStateFile.Read(bytes);
        }
        catch (InvalidDataException e)
        {
            throw new RequestRejectedException(ErrorCodes.BadState, $"The state fetched from {from} is unusable: {e.Message}");
        }

        if (state.Device != from || (version is int v && state.Version != v))
        {
            throw new RequestRejectedException(ErrorCodes.BadState, $"The state fetched from {from} is version {state.Version} of {state.Device}.");
        }

        string own = OwnArchitecture();
        string theirs = VersionStateFile.WithoutHeads(state.Architecture);
        if (own != theirs)
        {
            throw new RequestRejectedException(ErrorCodes.ArchitectureMismatch, $"Device {from}'s model is {theirs}; this device's Model:* settings build {own}.");
        }

        string normalization = ModelFiles.Normalization(_options);
        if (state.Normalization != normalization)
        {
            throw new RequestRejectedException(ErrorCodes.ArchitectureMismatch, $"Device {from} normalizes inputs as {state.Normalization}; this device as {normalization} (Model:NormalizationMean/Std).");
        }

        foreach (var task in state.Tasks)
        {
            if (store.FindTask(task.Id) is { } known && known.PayloadSha256 != task.PayloadSha256)
            {
                throw new RequestRejectedException(ErrorCodes.TaskConflict, $"Task {task.Id} of {from}'s version {state.Version} is another payload than this device's task {task.Id}.");
            }
        }

        return state;
    }

    /// <summary>On the worker (the deployment queue): the local version's files, its accuracy, then the committer's gate, commit and swap.</summary>
    private async Task<AdoptReply> ApplyAsync(VersionState state, AdoptedFrom source, CancellationToken cancellationToken)
    {
        TorchSharp.torch.set_num_threads(_options.Training.Threads);
        var deployedBefore = store.Deployed();

        // Chosen once: the commit gets this number (nothing else commits meanwhile), and the model file names it.
        int number = store.NextVersion();
        var (model, learnerState, tests) = LocalFiles(state, source, number, deployedBefore?.Version ?? 0);
        string modelBlob = store.Blobs.Put(model);
        string stateBlob = store.Blobs.Put(learnerState);
        var probe = new ModelVersionRecord { Version = number, ModelBlob = modelBlob, StateBlob = stateBlob, HeadClasses = state.HeadClasses, TaskIds = state.Tasks.Select(t => t.Id).ToArray() };
        var adoptedTasks = new List<AdoptedTask>();
        var sets = new List<HeldOutSet>();
        foreach (var task in state.Tasks)
        {
            var known = store.FindTask(task.Id);
            string? testBlob = known?.TestBlob ?? (tests.TryGetValue(task.Head, out var test) ? store.Blobs.Put(test) : null);
            if (known is null || known.State is TaskState.Queued or TaskState.Failed)
            {
                adoptedTasks.Add(new AdoptedTask(task.Id, task.Name, task.Classes, task.Samples, task.TestFraction, task.PayloadSha256, task.Head, testBlob));
            }

            if (testBlob is not null)
            {
                sets.Add(new HeldOutSet(task.Id, task.Head, Blob: testBlob));
            }
        }

        LearnerSession session;
        try
        {
            session = ModelFiles.Open(_options, probe, store.Blobs, device);
        }
        catch (InvalidDataException e)
        {
            throw new RequestRejectedException(ErrorCodes.BadState, $"The state of {source.Device}'s version {source.Version} does not fit this device's network: {e.Message}");
        }

        CommittedVersion committed;
        IContinualNetwork network;
        using (session)
        {
            var scores = heldOut.Measure(session.Network, sets, session.Learner.ClassStatistics);
            var adopted = new AdoptedVersion(number, new AdoptedSource { Device = source.Device, Version = source.Version }, modelBlob, stateBlob,
                state.HeadClasses, probe.TaskIds, session.Learner.Memory.Ranks, scores.Accuracy, adoptedTasks)
            {
                TaskAgnosticAccuracy = scores.TaskAgnosticAccuracy,
            };
            committed = committer.CommitAdopted(adopted, state.Tasks.ToDictionary(t => t.Id, t => DecodedTask.TestCountOf(t.Samples, t.TestFraction), StringComparer.Ordinal));
            network = session.ReleaseNetwork();
        }

        var record = committed.Version;
        if (!await committer.DeployAsync(committed, network, cancellationToken).ConfigureAwait(false))
        {
            throw committed.Gate is { } gate
                ? new RequestRejectedException(ErrorCodes.GateRefused, $"Stored as version {record.Version} but not deployed: {gate}. cmd/rollback to {record.Version} deploys it anyway.")
                : new RequestRejectedException(ErrorCodes.CorruptVersion, $"Stored as version {record.Version}, but its files failed their checksum as it was deployed; version {store.Deployed()?.Version ?? 0} keeps serving.");
        }

        logger.LogInformation("Adopted version {Version} of {Peer} as version {Local}: tasks [{Tasks}], accuracy {Accuracy}",
            source.Version, source.Device, record.Version, string.Join(", ", record.TaskIds), string.Join(", ", record.Accuracy.Select(a => $"{a.Key} {a.Value:F2}%")));
        return new AdoptReply(source, record.Version, Deployed: true, Queued: false, record.TaskIds, record.Accuracy);
    }

    /// <summary>This device's files for the adopted version: the model (with this device's version number and the
    /// origin in its metadata), the learner state, and each task's test set by head.</summary>
    private (byte[] Model, byte[] State, Dictionary<int, byte[]> Tests) LocalFiles(VersionState state, AdoptedFrom source, int number, int parent)
    {
        var model = new List<SafeTensor>();
        var learner = new List<SafeTensor>();
        var tests = new Dictionary<int, byte[]>();
        foreach (var t in state.File.Tensors)
        {
            if (t.Name.StartsWith(LearnerCheckpoint.ModelPrefix, StringComparison.Ordinal))
            {
                model.Add(t with { Name = t.Name[LearnerCheckpoint.ModelPrefix.Length..] });
            }
            else if (!t.Name.StartsWith(VersionStateFile.TestPrefix, StringComparison.Ordinal))
            {
                learner.Add(t);
            }
        }

        foreach (var task in state.Tasks.Where(t => t.TestSet))
        {
            string prefix = VersionStateFile.TestPrefix + task.Head.ToString(CultureInfo.InvariantCulture) + ".";
            if (state.File.Find(prefix + "x") is { } x && state.File.Find(prefix + "y") is { } y)
            {
                tests[task.Head] = SafeTensorsFile.Write([x with { Name = "x" }, y with { Name = "y" }]);
            }
        }

        var metadata = ModelFiles.Metadata(number, parent, state.Architecture, state.Tasks.Select(t => t.Id), state.Normalization, (source.Device, source.Version));
        return (SafeTensorsFile.Write(model, metadata), SafeTensorsFile.Write(learner, ModelFiles.StateMetadata), tests);
    }

    private string OwnArchitecture()
    {
        using var network = _options.Model.CreateNetwork(TorchSharp.torch.CPU, 0);
        return VersionStateFile.WithoutHeads(network.Architecture.ToJson());
    }

    private static string PeerMessage(byte[] payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            return document.RootElement.TryGetProperty("message", out var m) ? m.GetString() ?? string.Empty : Encoding.UTF8.GetString(payload);
        }
        catch (JsonException)
        {
            return Encoding.UTF8.GetString(payload);
        }
    }

    /// <summary>An adoption on the deployment queue.</summary>
    private sealed class AdoptionCommand(ModelAdoption adoption, VersionState state, AdoptedFrom source) : DeploymentCommand
    {
        public override string Description => $"adoption of version {source.Version} of {source.Device}";

        /// <summary>The answer, once run.</summary>
        public AdoptReply? Reply { get; private set; }

        protected override async Task ExecuteAsync(CancellationToken cancellationToken) =>
            Reply = await adoption.ApplyAsync(state, source, cancellationToken).ConfigureAwait(false);
    }
}
