using System.Globalization;
using Became.Core.Data;
using Became.Core.Merging;
using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.Training;

namespace Became.Agent.Bench;

/// <summary>The parsed command line of <c>became bench</c>.</summary>
public sealed record BenchOptions
{
    public const string Usage = """
        became bench [options]
          --stream split-fmnist|permuted-fmnist   task stream (default split-fmnist)
          --methods LIST        comma list of finetune,gpm,became,fixed (default all four)
          --seeds LIST          comma list of seeds (default 0,1,2)
          --epochs N            epochs per stage (default 5)
          --batch-size N        SGD batch size (default 10)
          --lr X                learning rate (default 0.01)
          --fisher exact|batch  per-sample Fisher (default) or the reference's squared batch means
                                (alexnet: always batch, since batch norm couples the samples)
          --fisher-labels true|empirical   predicted labels (default) or the given ones
          --fisher-batch N      batch of the batch Fisher (default: --batch-size)
          --projection-site inputs|gradients   project layer inputs in the forward pass (default, same
                                gradients, less work) or gradients after backward (the reference's path)
          --model mlp|alexnet[:W]   network: the multi-head MLP (default) or the paper's AlexNet with
                                width multiplier W (default 1; e.g. alexnet:0.25)
          --projection gpm|sgp  stage-1 projection: GPM (default) or SGP's importance-scaled one
          --sgp-scale X         SGP's scale s in lambda = (s+1)σ/(sσ + max σ) (default 10)
          --hidden LIST         MLP hidden widths (default 100,100)
          --thresholds LIST     GPM energy thresholds per layer (default 0.95,0.99; alexnet 0.97)
          --threshold-increment X   added to every threshold per task (default 0; alexnet 0.003)
          --memory-samples N    samples per representation matrix (default 300)
          --layer-samples LIST  samples per layer's representation matrix (alexnet default
                                24,100,100,125,125, the reference's)
          --train-per-task N    permuted-fmnist: training images per task (default 10000)
          --tasks N             learn only the stream's first N tasks (default all)
          --threads N           torch threads (default 2)
          --device cpu|auto|cuda|cuda:N   where tensors live (default cpu, so figures compare with the
                                reference's CPU runs; auto takes a GPU when libtorch sees one)
          --data DIR            MNIST-format IDX directory (default /usr/share/datasets/fashion-mnist)
          --json FILE           write the report as JSON
          --plot FILE           draw accuracy per task and merge coefficients as PNG
          --reference FILE      a reference report (JSON of the same shape) to print beside ours
        """;

    public string Stream { get; init; } = "split-fmnist";

    public IReadOnlyList<ContinualMethod> Methods { get; init; } = ContinualMethod.All;

    public IReadOnlyList<int> Seeds { get; init; } = [0, 1, 2];

    public TrainingOptions Training { get; init; } = new();

    public FisherEstimator Fisher { get; init; } = FisherEstimator.Exact;

    public FisherLabels FisherLabels { get; init; } = FisherLabels.Predicted;

    public int? FisherBatchSize { get; init; }

    public ProjectionSite ProjectionSite { get; init; } = ProjectionSite.Inputs;

    public IReadOnlyList<int> Hidden { get; init; } = [100, 100];

    public ModelSpec Model { get; init; } = ModelSpec.Mlp([100, 100]);

    public ProjectionKind Projection { get; init; } = ProjectionKind.Gpm;

    public double SgpScale { get; init; } = 10;

    public double ThresholdIncrement { get; init; }

    public IReadOnlyList<int>? LayerSamples { get; init; }

    public IReadOnlyList<double> Thresholds { get; init; } = [0.95, 0.99];

    public int MemorySamples { get; init; } = 300;

    public int TrainPerTask { get; init; } = 10000;

    /// <summary>Learn only the first this many tasks of the stream; null = all.</summary>
    public int? Tasks { get; init; }

    public int Threads { get; init; } = 2;

    /// <summary>The compute device setting (auto, cpu, cuda, cuda:N).</summary>
    public string Device { get; init; } = "cpu";

    public string DataDirectory { get; init; } = ImageClassificationDataset.FashionMnistDirectory;

    public string? JsonPath { get; init; }

    public string? PlotPath { get; init; }

    public string? ReferencePath { get; init; }

    public static IReadOnlyList<string> Streams { get; } = ["split-fmnist", "permuted-fmnist"];

    /// <summary>Parses the arguments after <c>bench</c>; throws <see cref="ArgumentException"/> naming the bad flag.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var o = new BenchOptions();
        var training = o.Training;
        string model = "mlp";
        bool thresholdsGiven = false, incrementGiven = false;
        for (int i = 0; i < args.Count; i++)
        {
            string flag = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{flag} needs a value.");
            switch (flag)
            {
                case "--stream":
                    string stream = Value();
                    o = o with { Stream = Streams.Contains(stream) ? stream : throw new ArgumentException($"--stream: unknown '{stream}'; use {string.Join(" or ", Streams)}.") };
                    break;
                case "--methods": o = o with { Methods = List(flag, Value(), ContinualMethod.Parse).Distinct().ToList() }; break;
                case "--seeds": o = o with { Seeds = List(flag, Value(), s => Int(flag, s, 0)) }; break;
                case "--epochs": training = training with { Epochs = Int(flag, Value(), 1) }; break;
                case "--batch-size": training = training with { BatchSize = Int(flag, Value(), 1) }; break;
                case "--lr": training = training with { LearningRate = Double(flag, Value()) }; break;
                case "--fisher": o = o with { Fisher = Value() switch { "exact" => FisherEstimator.Exact, "batch" => FisherEstimator.Batch, var v => throw new ArgumentException($"--fisher: '{v}' is not exact or batch.") } }; break;
                case "--fisher-labels": o = o with { FisherLabels = Value() switch { "true" => FisherLabels.Predicted, "empirical" => FisherLabels.Empirical, var v => throw new ArgumentException($"--fisher-labels: '{v}' is not true or empirical.") } }; break;
                case "--fisher-batch": o = o with { FisherBatchSize = Int(flag, Value(), 1) }; break;
                case "--projection-site": o = o with { ProjectionSite = Value() switch { "inputs" => ProjectionSite.Inputs, "gradients" => ProjectionSite.Gradients, var v => throw new ArgumentException($"--projection-site: '{v}' is not inputs or gradients.") } }; break;
                case "--hidden": o = o with { Hidden = List(flag, Value(), s => Int(flag, s, 1)) }; break;
                case "--thresholds": o = o with { Thresholds = List(flag, Value(), s => Double(flag, s)) }; thresholdsGiven = true; break;
                case "--threshold-increment": o = o with { ThresholdIncrement = NonNegative(flag, Value()) }; incrementGiven = true; break;
                case "--model": model = Value(); break;
                case "--projection": o = o with { Projection = Value() switch { "gpm" => ProjectionKind.Gpm, "sgp" => ProjectionKind.Sgp, var v => throw new ArgumentException($"--projection: '{v}' is not gpm or sgp.") } }; break;
                case "--sgp-scale": o = o with { SgpScale = Double(flag, Value()) }; break;
                case "--layer-samples": o = o with { LayerSamples = List(flag, Value(), s => Int(flag, s, 1)) }; break;
                case "--memory-samples": o = o with { MemorySamples = Int(flag, Value(), 1) }; break;
                case "--train-per-task": o = o with { TrainPerTask = Int(flag, Value(), 1) }; break;
                case "--tasks": o = o with { Tasks = Int(flag, Value(), 1) }; break;
                case "--threads": o = o with { Threads = Int(flag, Value(), 1) }; break;
                case "--device":
                    string device = Value();
                    o = o with { Device = Core.Native.DeviceRequest.TryParse(device, out _) ? device : throw new ArgumentException($"--device: '{device}' is not one of auto, cpu, cuda, cuda:N.") };
                    break;
                case "--data": o = o with { DataDirectory = Value() }; break;
                case "--json": o = o with { JsonPath = Value() }; break;
                case "--plot": o = o with { PlotPath = Value() }; break;
                case "--reference": o = o with { ReferencePath = Value() }; break;
                default: throw new ArgumentException($"Unknown option '{flag}'.");
            }
        }

        training.Validate();
        var spec = ModelSpec.Parse(model, o.Hidden);
        if (spec.Architecture == Architecture.AlexNet)
        {
            // The reference's conv GPM settings unless given.
            o = o with
            {
                Thresholds = thresholdsGiven ? o.Thresholds : [0.97],
                ThresholdIncrement = incrementGiven ? o.ThresholdIncrement : 0.003,
                LayerSamples = o.LayerSamples ?? ModelSpec.AlexNetMemorySamples,

                // Batch norm couples a batch's samples: there is no per-sample gradient, so the Fisher is the batch estimator.
                Fisher = FisherEstimator.Batch,
            };
        }

        int layers = spec.Architecture == Architecture.AlexNet ? ModelSpec.AlexNetMemorySamples.Count : o.Hidden.Count;
        new GpmOptions { Thresholds = o.Thresholds, LayerSamples = o.LayerSamples, Samples = o.MemorySamples, ScaleCoefficient = o.SgpScale }.Validate(layers);
        return o with { Training = training, Model = spec };
    }

    /// <summary>The learner settings for one method.</summary>
    public LearnerOptions LearnerFor(ContinualMethod method) => new()
    {
        Method = method,
        Training = Training,
        Memory = new GpmOptions
        {
            Thresholds = Thresholds,
            ThresholdIncrement = ThresholdIncrement,
            Samples = MemorySamples,
            LayerSamples = LayerSamples,
            Projection = Projection,
            ScaleCoefficient = SgpScale,
        },
        ProjectionSite = ProjectionSite,
        Fisher = new FisherOptions(Fisher, FisherLabels, FisherBatchSize ?? Training.BatchSize),
    };

    private static List<T> List<T>(string flag, string value, Func<string, T> parse)
    {
        var items = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return items.Length > 0 ? items.Select(parse).ToList() : throw new ArgumentException($"{flag} needs at least one value.");
    }

    private static int Int(string flag, string value, int min) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= min
            ? n
            : throw new ArgumentException($"{flag}: '{value}' is not an integer >= {min}.");

    private static double NonNegative(string flag, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && double.IsFinite(x) && x >= 0
            ? x
            : throw new ArgumentException($"{flag}: '{value}' is not a number >= 0.");

    private static double Double(string flag, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && double.IsFinite(x) && x > 0
            ? x
            : throw new ArgumentException($"{flag}: '{value}' is not a positive number.");
}
