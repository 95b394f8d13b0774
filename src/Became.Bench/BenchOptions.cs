using System.Globalization;
using Became.Core;
using Became.Core.Data;
using Became.Core.Merging;
using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.TaskAgnostic;
using Became.Core.Training;

namespace Became.Bench;

/// <summary>The parsed command line of <c>became bench</c>.</summary>
public sealed record BenchOptions
{
    public string Stream { get; init; } = "split-fmnist";

    public IReadOnlyList<ContinualMethod> Methods { get; init; } = ContinualMethod.All;

    public IReadOnlyList<int> Seeds { get; init; } = [0, 1, 2];

    public TrainingOptions Training { get; init; } = new();

    public FisherEstimator Fisher { get; init; } = FisherEstimator.Exact;

    public FisherLabels FisherLabels { get; init; } = FisherLabels.Predicted;

    public int? FisherBatchSize { get; init; }

    public ProjectionSite ProjectionSite { get; init; } = ProjectionSite.Inputs;

    public IReadOnlyList<int> Hidden { get; init; } = ReferenceProtocol.Mlp.HiddenSizes;

    public ModelSpec Model { get; init; } = ModelSpec.Mlp(ReferenceProtocol.Mlp.HiddenSizes);

    public ProjectionKind Projection { get; init; } = ProjectionKind.Gpm;

    /// <summary>What the class statistics for answers without a task id are taken of.</summary>
    public TaskFeatures TaskFeatures { get; init; } = TaskFeatures.Body;

    public double SgpScale { get; init; } = ReferenceProtocol.SgpScale;

    public double ThresholdIncrement { get; init; } = ReferenceProtocol.Mlp.ThresholdIncrement;

    public IReadOnlyList<int>? LayerSamples { get; init; }

    public IReadOnlyList<double> Thresholds { get; init; } = ReferenceProtocol.Mlp.Thresholds;

    public int MemorySamples { get; init; } = ReferenceProtocol.Mlp.MemorySamples;

    /// <summary>Training images per task: permuted-fmnist's sample (default <see cref="PermutedTrainPerTask"/>),
    /// split-fmnist's cap (default: the whole pool).</summary>
    public int? TrainPerTask { get; init; }

    /// <summary>permuted-fmnist's training sample per task unless told.</summary>
    public const int PermutedTrainPerTask = 10000;

    /// <summary>The images' shape for an image network ([channels, height, width], Fashion-MNIST zero-padded and its
    /// channel copied), or null for the dataset's own [1, 28, 28].</summary>
    public IReadOnlyList<long>? InputShape { get; init; }

    /// <summary>Learn only the first this many tasks of the stream; null = all.</summary>
    public int? Tasks { get; init; }

    public int Threads { get; init; } = 2;

    /// <summary>The compute device setting (auto, cpu, cuda, cuda:N).</summary>
    public string Device { get; init; } = "cpu";

    public string DataDirectory { get; init; } = ImageClassificationDataset.FashionMnistDirectory;

    public string? JsonPath { get; init; }

    public string? PlotPath { get; init; }

    public string? ReferencePath { get; init; }

    /// <summary>A safetensors state dict every run's network starts its body from (heads in it ignored), or null.</summary>
    public string? InitialWeightsPath { get; init; }

    public static IReadOnlyList<string> Streams { get; } = ["split-fmnist", "permuted-fmnist"];

    /// <summary>Parses the arguments after <c>bench</c>; throws <see cref="ArgumentException"/> naming the bad flag.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var line = new BenchCommandLine();
        var parsed = line.Command.Parse(args);
        return parsed.Errors.Count > 0 ? throw new ArgumentException(CommandLineRunner.Describe(parsed, BenchCommand.Name)) : line.Read(parsed);
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
        TaskFeatures = TaskFeatures,
        Fisher = new FisherOptions(Fisher, FisherLabels, FisherBatchSize ?? Training.BatchSize),
    };

    internal static List<T> List<T>(string flag, string value, Func<string, T> parse)
    {
        var items = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return items.Length > 0 ? items.Select(parse).ToList() : throw new ArgumentException($"{flag} needs at least one value.");
    }

    internal static int Int(string flag, string value, int min) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= min
            ? n
            : throw new ArgumentException($"{flag}: '{value}' is not an integer >= {min}.");

    internal static double Double(string flag, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && double.IsFinite(x) && x > 0
            ? x
            : throw new ArgumentException($"{flag}: '{value}' is not a positive number.");
}
