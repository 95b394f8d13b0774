using Became.Core;
using Became.Core.Models;
using Became.Core.Merging;
using Became.Core.Projection;
using Became.Core.Training;
using Became.Protocol;

namespace Became.Agent.Configuration;

/// <summary>The agent's settings: appsettings.json, then BECAME__* environment variables, then the command line.</summary>
public sealed class AgentOptions
{
    /// <summary>Names this device in every topic: became/{DeviceId}/...</summary>
    public string DeviceId { get; set; } = "device-1";

    /// <summary>Folder of the LiteDB file and the tensor files.</summary>
    public string DataDirectory { get; set; } = "data";

    public string TopicRoot { get; set; } = "became";

    /// <summary>Where tensors live: auto (CUDA when libtorch sees a GPU, else CPU), cpu, cuda or cuda:N.
    /// Not to be confused with <see cref="DeviceId"/>, this agent's name on MQTT.</summary>
    public string Device { get; set; } = "auto";

    public BrokerOptions Broker { get; set; } = new();

    public ModelOptions Model { get; set; } = new();

    public TrainingDefaults Training { get; set; } = new();

    public LimitOptions Limits { get; set; } = new();

    public JobOptions Jobs { get; set; } = new();

    /// <summary>HTTP endpoints, e.g. http://127.0.0.1:8080 (none when empty); off-device access needs an explicit bind.</summary>
    public string? HttpUrls { get; set; }

    /// <summary>When set, every HTTP endpoint but /healthz needs <c>Authorization: Bearer {HttpToken}</c>.</summary>
    public string? HttpToken { get; set; }

    public GateOptions Gate { get; set; } = new();

    public AdoptOptions Adopt { get; set; } = new();

    /// <summary>Seconds a clean shutdown may take before the host gives up on the worker.</summary>
    public int ShutdownSeconds { get; set; } = 20;

    /// <summary>Groups this device belongs to: it also takes tasks from {TopicRoot}/groups/{group}/tasks/{taskId}.</summary>
    public string[] Groups { get; set; } = [];

    public string Topic(string suffix) => Topics.Device(TopicRoot, DeviceId, suffix);

    /// <summary>What a task payload must match here: the model's features and the Limits:* caps (intake and job alike).</summary>
    public TaskPayloadLimits TaskLimits => new(Model.Features, Limits.MaxPayloadBytes, Limits.MaxSamplesPerTask);

    /// <summary>
    /// Where <paramref name="peer"/> replies to this device's requests: {TopicRoot}/{peer}/replies/{DeviceId}/ (then a
    /// nonce). Under the peer's root, so a fleet ACL lets only the peer publish there and only this device read it.
    /// </summary>
    public string ReplyTopicPrefix(string peer) => Topics.Reply(TopicRoot, peer, DeviceId) + "/";

    /// <summary>A topic of one of this device's groups: {TopicRoot}/groups/{group}/{suffix}.</summary>
    public string GroupTopic(string group, string suffix) => Topics.Group(TopicRoot, group, suffix);
}

/// <summary>Where the MQTT broker is; no Host means the embedded broker on localhost.</summary>
public sealed class BrokerOptions
{
    public string? Host { get; set; }

    public int Port { get; set; } = 1883;

    /// <summary>TLS to the broker; the broker's certificate must chain to the system's roots or to <see cref="CaFile"/>.</summary>
    public bool UseTls { get; set; }

    /// <summary>PEM file of the CA that signed the broker's certificate (a private CA); none = the system's trusted roots.</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM client certificate for brokers that require one (with <see cref="ClientKeyFile"/>).</summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>PEM (PKCS#8 or RSA) private key of <see cref="ClientCertificateFile"/>, unencrypted.</summary>
    public string? ClientKeyFile { get; set; }

    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>Stable client id for the persistent session; default became-{DeviceId}.</summary>
    public string? ClientId { get; set; }

    /// <summary>Longest wait between reconnection attempts (the backoff starts at 0.5 s and doubles, with jitter), so the
    /// agent is back at most this long after its broker is.</summary>
    public int ReconnectMaxSeconds { get; set; } = 10;

    /// <summary>Port of the embedded broker when no Host is given (0 picks a free one).</summary>
    public int EmbeddedPort { get; set; } = 1883;

    public bool IsEmbedded => string.IsNullOrWhiteSpace(Host);
}

/// <summary>The network the device learns with.</summary>
public sealed class ModelOptions
{
    /// <summary>Shape of one input, e.g. [784] or [1, 28, 28]; tasks must match its element count.</summary>
    // List settings start empty because the configuration binder appends to an existing array;
    // AgentOptionsDefaults fills in the defaults when nothing was configured.
    public int[] InputShape { get; set; } = [];

    public int[] HiddenSizes { get; set; } = [];

    /// <summary>mlp (default; <see cref="HiddenSizes"/>), or alexnet / alexnet:W, the paper's AlexNet with width
    /// multiplier W; AlexNet needs an image <see cref="InputShape"/>, [channels, height, width] or [height, width].</summary>
    public string Architecture { get; set; } = "mlp";

    /// <summary>A safetensors state dict (PyTorch names) the body of the device's first network starts from; none =
    /// the family's own initialisation. Checked at start-up against the architecture and input shape; heads in it are
    /// ignored, and once the device has a version its learned body continues instead.</summary>
    public string? InitialWeights { get; set; }

    /// <summary>The network to build; throws <see cref="ArgumentException"/> for an unknown architecture.</summary>
    public ModelSpec Spec => ModelSpec.Parse(Architecture, HiddenSizes);

    /// <summary>The configured network in messages, e.g. <c>resnet18:0.5 for input [1, 28, 28]</c>.</summary>
    public string NetworkDescription => $"{Spec.Name}{(Spec.Family == NetworkFamilies.Mlp ? $" [{string.Join(", ", HiddenSizes)}]" : "")} for input [{string.Join(", ", InputShape)}]";

    /// <summary>The configured family, or null when <see cref="Architecture"/> does not read (the validator says so).</summary>
    public INetworkFamily? Family => TrySpec()?.Family;

    /// <summary>Shared layers the memory keeps a basis for (the family's count; the MLP's hidden layers when the
    /// architecture does not read).</summary>
    public int SharedLayerCount => TrySpec()?.SharedLayerCount ?? HiddenSizes.Length;

    /// <summary>The paper's GPM defaults of the configured family (the MLP's when the architecture does not read).</summary>
    public MemoryDefaults MemoryDefaults => (Family ?? NetworkFamilies.Mlp).MemoryDefaults;

    /// <summary>Builds the configured network.</summary>
    public IContinualNetwork CreateNetwork(TorchSharp.torch.Device? device = null, long? seed = null) =>
        Spec.Create(InputShape.Select(d => (long)d).ToArray(), device, seed);

    /// <summary>Inputs are scaled to [0,1] (uint8 / 255; float32 taken as already scaled), then (x - mean) / std.</summary>
    public double NormalizationMean { get; set; } = ReferenceProtocol.NormalizationMean;

    public double NormalizationStd { get; set; } = ReferenceProtocol.NormalizationStd;

    public int Features => InputShape.Aggregate(1, (a, b) => a * b);

    private ModelSpec? TrySpec()
    {
        try
        {
            return Spec;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}

/// <summary>How each task is learned.</summary>
public sealed class TrainingDefaults
{
    /// <summary>finetune, gpm, became or fixed.</summary>
    public string Method { get; set; } = "became";

    public int Epochs { get; set; } = ReferenceProtocol.Epochs;

    public int BatchSize { get; set; } = ReferenceProtocol.BatchSize;

    public double LearningRate { get; set; } = ReferenceProtocol.LearningRate;

    public double[] Thresholds { get; set; } = [];

    public int MemorySamples { get; set; } = ReferenceProtocol.Mlp.MemorySamples;

    /// <summary>Samples per shared layer's representation matrix; empty = the family's default (none for an MLP:
    /// <see cref="MemorySamples"/> everywhere; the reference's 24, 100, 100, 125, 125 for AlexNet).</summary>
    public int[] LayerSamples { get; set; } = [];

    /// <summary>Added to every threshold per task; unset = the family's default (0 for an MLP, 0.003 for AlexNet).</summary>
    public double? ThresholdIncrement { get; set; }

    /// <summary>gpm (full projection) or sgp (importance-scaled projection).</summary>
    public string Projection { get; set; } = "gpm";

    /// <summary>SGP's scale coefficient s.</summary>
    public double SgpScale { get; set; } = ReferenceProtocol.SgpScale;

    /// <summary>exact or batch.</summary>
    public string Fisher { get; set; } = "exact";

    public int Seed { get; set; }

    /// <summary>libtorch threads for evaluation, Fisher and SVD.</summary>
    public int Threads { get; set; } = 2;

    /// <summary>What the class statistics for answers without a task id are of: body, input or input:M
    /// (<see cref="Became.Core.TaskAgnostic.TaskFeatures"/>).</summary>
    public string TaskFeatures { get; set; } = "body";

    public LearnerOptions ToLearnerOptions(ModelOptions model) => new()
    {
        Method = ContinualMethod.Parse(Method),
        Training = new TrainingOptions { Epochs = Epochs, BatchSize = BatchSize, LearningRate = LearningRate },
        Memory = new GpmOptions
        {
            Thresholds = Thresholds,
            Samples = MemorySamples,
            LayerSamples = LayerSamples.Length > 0 ? LayerSamples : model.MemoryDefaults.LayerSamples,
            ThresholdIncrement = ThresholdIncrement ?? model.MemoryDefaults.ThresholdIncrement,
            Projection = ProjectionKind.Parse(Projection),
            ScaleCoefficient = SgpScale,
        },
        Fisher = new FisherOptions(Fisher == "batch" ? FisherEstimator.Batch : FisherEstimator.Exact, FisherLabels.Predicted, BatchSize),
        TaskFeatures = Became.Core.TaskAgnostic.TaskFeatures.Parse(TaskFeatures),
    };
}

/// <summary>The deployment gate: a merged model that forgets too much is stored but not deployed.</summary>
public sealed class GateOptions
{
    /// <summary>On by default: a device should not silently swap in a model that lost earlier skills.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Largest allowed drop (percentage points) of held-out accuracy on any earlier task versus the deployed
    /// model, beyond two standard errors of the held-out sets' sampling noise.</summary>
    public double MaxForgettingPoints { get; set; } = 5;

    /// <summary>Lowest allowed held-out accuracy (percent) on the new task; 0 (off) by default because chance level
    /// depends on the task's class count.</summary>
    public double MinNewTaskAccuracy { get; set; }
}

/// <summary>cmd/adopt: how a peer's version with its learner state is fetched.</summary>
public sealed class AdoptOptions
{
    /// <summary>Bytes per pull reply: the state file comes in pieces this large, so it passes brokers with a small
    /// maximum packet (EMQX's default is 1 MB).</summary>
    public int ChunkBytes { get; set; } = 1_000_000;

    /// <summary>Seconds to wait for each of the peer's replies before the adoption fails with peer_timeout.</summary>
    public double TimeoutSeconds { get; set; } = 30;
}

/// <summary>Bounds on what the agent accepts.</summary>
public sealed class LimitOptions
{
    public long MaxPayloadBytes { get; set; } = 64L * 1024 * 1024;

    public int MaxQueuedTasks { get; set; } = 100;

    public int MaxSamplesPerTask { get; set; } = 200_000;

    /// <summary>Largest infer or pull request accepted (MQTT payload or HTTP body); checked before it is parsed.</summary>
    public long MaxRequestBytes { get; set; } = 32L * 1024 * 1024;

    /// <summary>Most numbers an infer reply may carry (inputs × the head's classes), checked before the forward pass.
    /// 100,000 takes the largest batch (10,000 inputs) at 10 classes; its JSON reply is about 1.4 MB, small enough for
    /// a broker to carry promptly (mosquitto takes up to 256 MiB) and for the agent to build in memory.</summary>
    public long MaxInferOutputs { get; set; } = 100_000;
}

/// <summary>How a job that failed for a transient reason (an I/O error such as a full disk) is retried.</summary>
public sealed class JobOptions
{
    /// <summary>Seconds before the first retry; each further failure doubles it.</summary>
    public double RetryInitialSeconds { get; set; } = 5;

    /// <summary>The longest wait between retries; a transient failure is retried for as long as it lasts.</summary>
    public double RetryMaxSeconds { get; set; } = 300;

    /// <summary>The wait before retry number <paramref name="attempt"/> (1 after the first failure).</summary>
    public TimeSpan RetryDelay(int attempt) =>
        TimeSpan.FromSeconds(Math.Min(RetryMaxSeconds, RetryInitialSeconds * Math.Pow(2, Math.Clamp(attempt - 1, 0, 30))));
}

/// <summary>Fills list settings that the configuration left empty (the binder cannot replace array defaults).</summary>
public sealed class AgentOptionsDefaults : Microsoft.Extensions.Options.IPostConfigureOptions<AgentOptions>
{
    public static readonly int[] InputShape = [784];
    public static readonly int[] HiddenSizes = [.. ReferenceProtocol.Mlp.HiddenSizes];

    public void PostConfigure(string? name, AgentOptions options)
    {
        if (options.Model.InputShape.Length == 0) options.Model.InputShape = [.. InputShape];
        if (options.Model.HiddenSizes.Length == 0) options.Model.HiddenSizes = [.. HiddenSizes];
        if (options.Training.Thresholds.Length == 0) options.Training.Thresholds = [.. options.Model.MemoryDefaults.Thresholds];
    }
}
