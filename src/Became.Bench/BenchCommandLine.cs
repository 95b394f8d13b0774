using System.CommandLine;
using Became.Core;
using Became.Core.Merging;
using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.TaskAgnostic;
using Became.Core.Training;

namespace Became.Bench;

/// <summary><c>became bench</c>'s (became-bench's) options (System.CommandLine) and their translation into <see cref="BenchOptions"/>.</summary>
internal sealed class BenchCommandLine
{
    private readonly Option<string> _stream = new Option<string>("--stream") { Description = "task stream (default split-fmnist)", DefaultValueFactory = _ => "split-fmnist" }.AcceptOnlyFromAmong("split-fmnist", "permuted-fmnist");
    private readonly Option<string> _methods = new("--methods") { Description = "comma list of finetune,gpm,became,fixed (default all four)", HelpName = "LIST" };
    private readonly Option<string> _seeds = new("--seeds") { Description = "comma list of seeds (default 0,1,2)", HelpName = "LIST" };
    private readonly Option<int> _epochs = new Option<int>("--epochs") { Description = "epochs per stage (default 5)", HelpName = "N" }.AtLeast(1);
    private readonly Option<int> _batchSize = new Option<int>("--batch-size") { Description = "SGD batch size (default 10)", HelpName = "N" }.AtLeast(1);
    private readonly Option<double> _lr = new Option<double>("--lr") { Description = "learning rate (default 0.01)", HelpName = "X" }.Positive();
    private readonly Option<string> _fisher = new Option<string>("--fisher") { Description = "per-sample Fisher (exact, default) or the reference's squared batch means (batch; alexnet: always batch, since batch norm couples the samples)" }.AcceptOnlyFromAmong("exact", "batch");
    private readonly Option<string> _fisherLabels = new Option<string>("--fisher-labels") { Description = "predicted labels (true, default) or the given ones (empirical)" }.AcceptOnlyFromAmong("true", "empirical");
    private readonly Option<int> _fisherBatch = new Option<int>("--fisher-batch") { Description = "batch of the batch Fisher (default: --batch-size)", HelpName = "N" }.AtLeast(1);
    private readonly Option<string> _projectionSite = new Option<string>("--projection-site") { Description = "project layer inputs in the forward pass (inputs, default: same gradients, less work) or gradients after backward (the reference's path)" }.AcceptOnlyFromAmong("inputs", "gradients");
    private readonly Option<string> _model = new("--model") { Description = "network: the multi-head MLP (mlp, default), the paper's AlexNet, GPM's reduced ResNet-18 or Adam-NSCL's PreAct ResNet-18, each with width multiplier W (default 1; e.g. alexnet:0.25, resnet18:0.5)", HelpName = "mlp|alexnet[:W]|resnet18[:W]|preact-resnet18[:W]", DefaultValueFactory = _ => "mlp" };
    private readonly Option<string> _taskFeatures = new("--task-features") { Description = "what the class statistics for answers without a task id are of: body (the body's features, default) or input[:M] (a fixed random ReLU expansion of the input, M default 2000)", HelpName = "body|input[:M]" };
    private readonly Option<string> _projection = new Option<string>("--projection") { Description = $"stage-1 base method: {string.Join("; ", ProjectionKind.All.Select(k => $"{k.Name} ({k.Description})"))} (default gpm)" }.AcceptOnlyFromAmong([.. ProjectionKind.All.Select(k => k.Name)]);
    private readonly Option<double> _sgpScale = new Option<double>("--sgp-scale") { Description = "SGP's scale s in lambda = (s+1)σ/(sσ + max σ) (default 10)", HelpName = "X" }.Positive();
    private readonly Option<string> _hidden = new("--hidden") { Description = "MLP hidden widths (default 100,100)", HelpName = "LIST" };
    private readonly Option<string> _thresholds = new("--thresholds") { Description = "GPM energy thresholds per layer (default 0.95,0.99; alexnet 0.97)", HelpName = "LIST" };
    private readonly Option<double> _thresholdIncrement = new("--threshold-increment") { Description = "added to every threshold per task (default 0; alexnet 0.003)", HelpName = "X" };
    private readonly Option<int> _memorySamples = new Option<int>("--memory-samples") { Description = "samples per representation matrix (default 300)", HelpName = "N" }.AtLeast(1);
    private readonly Option<string> _layerSamples = new("--layer-samples") { Description = "samples per layer's representation matrix (alexnet default 24,100,100,125,125, the reference's)", HelpName = "LIST" };
    private readonly Option<int> _trainPerTask = new Option<int>("--train-per-task") { Description = "training images per task: permuted-fmnist's sample (default 10000), split-fmnist's cap (default all)", HelpName = "N" }.AtLeast(1);
    private readonly Option<string> _inputShape = new("--input-shape") { Description = "image networks: the input shape C,H,W; Fashion-MNIST is zero-padded (centred) to H x W and copied to C channels (default 1,28,28; e.g. 3,32,32)", HelpName = "C,H,W" };
    private readonly Option<int> _tasks = new Option<int>("--tasks") { Description = "learn only the stream's first N tasks (default all)", HelpName = "N" }.AtLeast(1);
    private readonly Option<int> _threads = new Option<int>("--threads") { Description = "torch threads (default 2)", HelpName = "N" }.AtLeast(1);
    private readonly Option<string> _device = new("--device") { Description = "where tensors live: cpu (default, so figures compare with the reference's CPU runs), auto (a GPU when libtorch sees one), cuda or cuda:N", HelpName = "DEVICE" };
    private readonly Option<string> _data = new("--data") { Description = "MNIST-format IDX directory (default /usr/share/datasets/fashion-mnist)", HelpName = "DIR" };
    private readonly Option<string> _json = new("--json") { Description = "write the report as JSON", HelpName = "FILE" };
    private readonly Option<string> _plot = new("--plot") { Description = "draw accuracy per task and merge coefficients as PNG", HelpName = "FILE" };
    private readonly Option<string> _reference = new("--reference") { Description = "a reference report (JSON of the same shape) to print beside ours", HelpName = "FILE" };
    private readonly Option<string> _initialWeights = new("--initial-weights") { Description = "a safetensors state dict (PyTorch names) every run's network starts its body from; checked against --model and --input-shape before any training, its heads.* ignored", HelpName = "FILE" };

    public BenchCommandLine()
    {
        _thresholdIncrement.Validators.Add(r =>
        {
            if (CommonOptions.TryGet(r, out double value) && !(value >= 0 && double.IsFinite(value)))
            {
                r.AddError($"--threshold-increment: '{r.Tokens[0].Value}' must be a number >= 0");
            }
        });
        _device.Validators.Add(r => CheckDevice(r));
        Command = new RootCommand("became bench — offline benchmark of the methods on split-fmnist or permuted-fmnist: accuracy table, JSON report and plot")
        {
            _stream, _methods, _seeds, _epochs, _batchSize, _lr, _fisher, _fisherLabels, _fisherBatch, _projectionSite, _model, _projection,
            _sgpScale, _hidden, _thresholds, _thresholdIncrement, _memorySamples, _layerSamples, _trainPerTask, _inputShape, _tasks, _threads, _device,
            _data, _json, _plot, _reference, _initialWeights, _taskFeatures,
        };
    }

    // C,H,W of at least one channel and 28 x 28 (the images are padded, never cut), for a network that takes images.
    private static long[] ReadInputShape(string text, ModelSpec spec)
    {
        var dims = BenchOptions.List("--input-shape", text, s => (long)BenchOptions.Int("--input-shape", s, 1));
        if (!spec.Family.TakesImages)
        {
            throw new ArgumentException($"--input-shape is for image networks; {spec.Name} reads flat inputs.");
        }

        if (dims.Count != 3 || dims[1] < 28 || dims[2] < 28)
        {
            throw new ArgumentException($"--input-shape: '{text}' must be C,H,W with H and W at least 28 (Fashion-MNIST is padded to it), e.g. 3,32,32.");
        }

        return spec.Family.CheckInputShape(dims) is { } problem ? throw new ArgumentException($"--input-shape: {problem}") : [.. dims];
    }

    // Its own method: building the command touches nothing of Became.Core, whose first use loads libtorch.
    private static void CheckDevice(System.CommandLine.Parsing.OptionResult result)
    {
        string? value = result.GetValueOrDefault<string>();
        if (value is not null && !Core.Native.DeviceRequest.TryParse(value, out _))
        {
            result.AddError($"--device: '{value}' is not one of auto, cpu, cuda, cuda:N");
        }
    }

    /// <summary>The became-bench root command with these options (its action is set by <see cref="BenchCommand"/>).</summary>
    public RootCommand Command { get; }

    /// <summary>The options of a successful parse; throws <see cref="ArgumentException"/> for values that do not fit together.</summary>
    public BenchOptions Read(ParseResult parsed)
    {
        bool Given(Option option) => parsed.GetResult(option) is { Implicit: false };
        var o = new BenchOptions { Stream = parsed.GetValue(_stream)! };
        var training = o.Training;
        if (parsed.GetValue(_methods) is string methods) o = o with { Methods = BenchOptions.List("--methods", methods, ContinualMethod.Parse).Distinct().ToList() };
        if (parsed.GetValue(_seeds) is string seeds) o = o with { Seeds = BenchOptions.List("--seeds", seeds, s => BenchOptions.Int("--seeds", s, 0)) };
        if (Given(_epochs)) training = training with { Epochs = parsed.GetValue(_epochs) };
        if (Given(_batchSize)) training = training with { BatchSize = parsed.GetValue(_batchSize) };
        if (Given(_lr)) training = training with { LearningRate = parsed.GetValue(_lr) };
        if (parsed.GetValue(_fisher) is string fisher) o = o with { Fisher = fisher == "batch" ? FisherEstimator.Batch : FisherEstimator.Exact };
        if (parsed.GetValue(_fisherLabels) is string labels) o = o with { FisherLabels = labels == "empirical" ? FisherLabels.Empirical : FisherLabels.Predicted };
        if (Given(_fisherBatch)) o = o with { FisherBatchSize = parsed.GetValue(_fisherBatch) };
        if (parsed.GetValue(_projectionSite) is string site) o = o with { ProjectionSite = site == "gradients" ? ProjectionSite.Gradients : ProjectionSite.Inputs };
        if (parsed.GetValue(_hidden) is string hidden) o = o with { Hidden = BenchOptions.List("--hidden", hidden, s => BenchOptions.Int("--hidden", s, 1)) };
        bool thresholdsGiven = parsed.GetValue(_thresholds) is not null, incrementGiven = Given(_thresholdIncrement);
        if (parsed.GetValue(_thresholds) is string thresholds) o = o with { Thresholds = BenchOptions.List("--thresholds", thresholds, s => BenchOptions.Double("--thresholds", s)) };
        if (incrementGiven) o = o with { ThresholdIncrement = parsed.GetValue(_thresholdIncrement) };
        if (parsed.GetValue(_projection) is string projection) o = o with { Projection = ProjectionKind.Parse(projection) };
        if (parsed.GetValue(_taskFeatures) is string taskFeatures) o = o with { TaskFeatures = TaskFeatures.TryParse(taskFeatures, out string? problem) ?? throw new ArgumentException($"--task-features: {problem}") };
        if (Given(_sgpScale)) o = o with { SgpScale = parsed.GetValue(_sgpScale) };
        if (parsed.GetValue(_layerSamples) is string layerSamples) o = o with { LayerSamples = BenchOptions.List("--layer-samples", layerSamples, s => BenchOptions.Int("--layer-samples", s, 1)) };
        if (Given(_memorySamples)) o = o with { MemorySamples = parsed.GetValue(_memorySamples) };
        if (Given(_trainPerTask)) o = o with { TrainPerTask = parsed.GetValue(_trainPerTask) };
        if (Given(_tasks)) o = o with { Tasks = parsed.GetValue(_tasks) };
        if (Given(_threads)) o = o with { Threads = parsed.GetValue(_threads) };
        if (parsed.GetValue(_device) is string device) o = o with { Device = device };
        if (parsed.GetValue(_data) is string data) o = o with { DataDirectory = data };
        o = o with { JsonPath = parsed.GetValue(_json), PlotPath = parsed.GetValue(_plot), ReferencePath = parsed.GetValue(_reference), InitialWeightsPath = parsed.GetValue(_initialWeights) };

        training.Validate();
        var spec = ModelSpec.Parse(parsed.GetValue(_model)!, o.Hidden);
        if (parsed.GetValue(_inputShape) is string inputShape)
        {
            o = o with { InputShape = ReadInputShape(inputShape, spec) };
        }

        var defaults = spec.Family.MemoryDefaults;

        // The family's paper GPM settings unless given.
        o = o with
        {
            Thresholds = thresholdsGiven ? o.Thresholds : defaults.Thresholds,
            ThresholdIncrement = incrementGiven ? o.ThresholdIncrement : defaults.ThresholdIncrement,
            LayerSamples = o.LayerSamples ?? defaults.LayerSamples,
        };

        // Batch norm couples a batch's samples: without a per-sample gradient the Fisher is the batch estimator.
        if (!spec.Family.Capabilities.HasFlag(NetworkCapabilities.ExactFisher))
        {
            o = o with { Fisher = FisherEstimator.Batch };
        }

        int layers = spec.SharedLayerCount;
        new GpmOptions { Thresholds = o.Thresholds, LayerSamples = o.LayerSamples, Samples = o.MemorySamples, ScaleCoefficient = o.SgpScale }.Validate(layers);
        return o with { Training = training, Model = spec };
    }
}
