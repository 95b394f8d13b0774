using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Became.Core.Data;
using Became.Core.Evaluation;
using Became.Core.Merging;
using Became.Core.Models;
using Became.Core.Native;
using Became.Core.Projection;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Bench;

/// <summary><c>became bench</c>: every method over a task stream for several seeds, with table, JSON and plot.</summary>
public static class BenchCommand
{
    /// <summary>How messages name the program (it is run as <c>became bench</c>).</summary>
    public const string Name = "became bench";

    /// <summary>Runs <c>became bench ARGS</c>.</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        RunAsync(args, output, error, cancellationToken).GetAwaiter().GetResult();

    /// <summary>Parses <paramref name="args"/> and runs the benchmark; never throws (but for a cancelled token: 130).</summary>
    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        CommandLineRunner.RunAsync(Create(), Name, args, output, error, isUnreachable: null, cancellationToken);

    internal static RootCommand Create()
    {
        var line = new BenchCommandLine();
        line.Command.SetAction((parsed, cancellationToken) =>
        {
            BenchOptions options;
            try
            {
                options = line.Read(parsed);
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }

            return Task.FromResult(Run(options, parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error, cancellationToken));
        });
        CommandLineRunner.SetVersion(line.Command, VersionLine);
        return line.Command;
    }

    /// <summary>became-bench's version and libtorch backend, from this assembly's stamp (no libtorch load).</summary>
    public static string VersionLine()
    {
        var assembly = typeof(BenchCommand).Assembly;
        string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "unknown";
        string backend = assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "TorchBackend")?.Value ?? "unknown";
        return $"became-bench {version} (libtorch backend: {backend})";
    }

    /// <summary>Runs the benchmark with parsed options.</summary>
    public static int Run(BenchOptions options, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        // The dataset (managed bytes) is read while libtorch loads: each takes a few tenths of a second.
        var datasetRead = Task.Run(() => ImageClassificationDataset.Load(options.DataDirectory));
        TorchNativeStatus native;
        try
        {
            native = TorchRuntime.Initialize();
        }
        catch (Exception e) when (TorchRuntime.IsLoadFailure(e))
        {
            error.WriteLine($"became bench: {TorchRuntime.DescribeLoadFailure(e, TorchBackendInfo.BuildBackend)}");
            return 3;
        }

        TorchSharp.torch.set_num_threads(options.Threads);
        error.WriteLine(native.ToString());
        ComputeDevice device;
        try
        {
            device = ComputeDevice.Resolve(options.Device);
        }
        catch (DeviceUnavailableException e)
        {
            error.WriteLine($"became bench: {e.Message}");
            return 2;
        }

        var backend = TorchBackendInfo.Current();
        error.WriteLine($"Torch backend {backend.Backend}, libtorch {backend.LibTorchVersion}, device {device} ({device.Reason}), {backend.Threads} threads");

        ImageClassificationDataset dataset;
        try
        {
            dataset = datasetRead.GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            error.WriteLine($"became bench: {e.Message}");
            return 3;
        }

        // The streams' inputs are flat pixels; a family that takes images reads them as the dataset's one-channel images.
        long[] shape = options.InputShape is { } given ? [.. given] : options.Model.Family.TakesImages ? [1, dataset.Height, dataset.Width] : [dataset.PixelsPerImage];
        InitialWeights? initialWeights = null;
        if (options.InitialWeightsPath is { } weightsPath)
        {
            // Checked once, before any training, against the network every run builds.
            try
            {
                initialWeights = InitialWeights.Read(weightsPath);
                using var probe = options.Model.Create(shape, CPU);
                initialWeights.Check(probe, options.Model.Name);
            }
            catch (InitialWeightsException e)
            {
                error.WriteLine($"became bench: {e.Message}");
                return 2;
            }

            error.WriteLine($"initial weights {weightsPath} (sha256 {initialWeights.Sha256}): every run's body starts from it; {initialWeights.HeadTensors} head tensors in it ignored, the heads are new");
        }

        var started = DateTimeOffset.UtcNow;
        var results = new List<ContinualRunResult>();
        var display = new ProgressLine(error);
        foreach (int seed in options.Seeds)
        {
            long loading = Stopwatch.GetTimestamp(); var loadingCpu = Environment.CpuUsage.TotalTime;
            using var loaded = LoadStream(options, dataset, seed);

            // On a GPU the whole stream moves there once (tens of MB); on the CPU it stays as loaded.
            using var moved = device.IsCuda ? loaded.To(device.Device) : null;
            var stream = moved ?? loaded;
            error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stream {options.Stream} seed {seed} prepared in {Stopwatch.GetElapsedTime(loading).TotalSeconds:F2} s (CPU {(Environment.CpuUsage.TotalTime - loadingCpu).TotalSeconds:F2} s)"));
            // A shorter stream shares the full one's tasks (the full stream disposes them).
            var tasks = options.Tasks is int n && n < stream.Tasks.Count ? new TaskStream(stream.Name, stream.Tasks.Take(n).ToList(), stream.InputShape) : stream;
            foreach (var method in options.Methods)
            {
                var result = ContinualExperiment.Run(tasks, options.LearnerFor(method), () => CreateNetwork(options.Model, shape, device, initialWeights), seed, display, cancellationToken);
                display.Clear();
                error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{method.Name,-8} {options.Model.Name} {options.Projection.Name} seed {seed}: ACC {result.Acc:F2}  BWT {result.Bwt:F2}  {result.Seconds:F1} s  merges [{string.Join(", ", result.MergeCoefficients.Select(a => a.ToString("F3", CultureInfo.InvariantCulture)))}]  ranks [{string.Join(" ", result.MemoryRanks.Select(r => string.Join("/", r)))}]"));
                if (result.TaskAgnostic is { } agnostic)
                {
                    error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{"",-8} without task id: ACC {agnostic.Accuracy:F2}  task id {agnostic.TaskIdAccuracy:F2}  (max-softmax {agnostic.MaxSoftmaxAccuracy:F2}, energy {agnostic.EnergyAccuracy:F2}; statistics recomputed at the end {agnostic.RecomputedAccuracy:F2} / task id {agnostic.RecomputedTaskIdAccuracy:F2})"));
                }

                error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"",-8} time by phase: {PhaseClock.Format(result.Phases, result.PhaseCpuSeconds)}; run {result.Seconds:F2} s"));
                results.Add(result);
            }
        }

        var protocol = new BenchProtocol(
            options.Stream,
            options.Methods.Select(m => m.Name).ToList(),
            options.Seeds,
            options.Training.Epochs,
            options.Training.BatchSize,
            options.Training.LearningRate,
            options.Fisher == FisherEstimator.Exact ? "exact" : "batch",
            options.FisherLabels == FisherLabels.Predicted ? "true" : "empirical",
            options.ProjectionSite == ProjectionSite.Inputs ? "inputs" : "gradients",
            options.Thresholds,
            options.MemorySamples,
            options.Threads,
            options.Stream == "permuted-fmnist" ? options.TrainPerTask ?? BenchOptions.PermutedTrainPerTask : options.TrainPerTask,
            options.DataDirectory,
            BenchProtocol.DescribeMachine(),
            $"libtorch {backend.LibTorchVersion} ({backend.Backend} build)",
            started,
            options.Model.Name,
            options.Projection.Name,
            options.ThresholdIncrement,
            options.LayerSamples,
            options.Projection.WeighsDirections ? options.SgpScale : null,
            device.ToString(),
            options.InputShape ?? (options.Model.Family.TakesImages ? [1, dataset.Height, dataset.Width] : null),
            initialWeights is null ? null : new BenchInitialWeights(Path.GetFileName(options.InitialWeightsPath!), initialWeights.Sha256));
        var report = BenchReport.Create(protocol, results);
        var reference = options.ReferencePath is null ? null : LoadReference(options.ReferencePath, error);
        output.WriteLine();
        output.WriteLine(BenchTable.Render(report, reference));
        if (options.JsonPath is not null)
        {
            BenchReportJson.Write(report, options.JsonPath);
            output.WriteLine($"JSON: {options.JsonPath}");
        }

        if (options.PlotPath is not null)
        {
            var plot = BenchPlot.Save(report, options.PlotPath);
            output.WriteLine($"Plot: {plot.Path}{(plot.FontNote is null ? string.Empty : " (" + plot.FontNote + ")")}");
        }

        return 0;
    }

    /// <summary>The seed's stream, padded to <see cref="BenchOptions.InputShape"/> when one is given (the unpadded one
    /// is freed at once: it is not needed beside its padded copy).</summary>
    private static TaskStream LoadStream(BenchOptions options, ImageClassificationDataset dataset, int seed)
    {
        var read = options.Stream == "split-fmnist"
            ? TaskStreams.SplitFashionMnist(dataset, seed, trainPerTask: options.TrainPerTask)
            : TaskStreams.PermutedFashionMnist(dataset, seed, trainPerTask: options.TrainPerTask ?? BenchOptions.PermutedTrainPerTask);
        if (options.InputShape is not [var c, var h, var w])
        {
            return read;
        }

        using (read)
        {
            return TaskStreams.AsImages(read, dataset.Height, dataset.Width, (int)c, (int)h, (int)w, (float)((0 - dataset.Mean) / dataset.Std));
        }
    }

    /// <summary>A run's network: the family's initialisation (after the run's seed), then the body from the initial
    /// weights when given (checked before the first run, so a failure here is a file changed meanwhile).</summary>
    private static IContinualNetwork CreateNetwork(ModelSpec model, long[] shape, ComputeDevice device, InitialWeights? initialWeights)
    {
        var network = model.Create(shape, device.Device);
        try
        {
            initialWeights?.LoadInto(network, model.Name);
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private static Dictionary<string, BenchReference>? LoadReference(string path, TextWriter error)
    {
        try
        {
            // Only the summary is read, so reports whose protocol is free text (the authors' reference) work too.
            using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            return document.RootElement.GetProperty("summary").EnumerateArray().ToDictionary(
                s => s.GetProperty("method").GetString() ?? string.Empty,
                s => new BenchReference(
                    s.GetProperty("accMean").GetDouble(),
                    s.GetProperty("bwtMean").GetDouble(),
                    s.TryGetProperty("secondsMean", out var seconds) ? seconds.GetDouble() : null));
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or UnauthorizedAccessException or KeyNotFoundException or InvalidOperationException)
        {
            error.WriteLine($"became bench: cannot read the reference {path}: {e.Message}");
            return null;
        }
    }

    /// <summary>One status line on a terminal (rewritten in place); nothing when output is redirected.</summary>
    private sealed class ProgressLine(TextWriter writer) : IProgress<ExperimentProgress>
    {
        private readonly bool _interactive = !Console.IsErrorRedirected;
        private readonly Stopwatch _throttle = Stopwatch.StartNew();

        public void Report(ExperimentProgress value)
        {
            if (!_interactive || (value.Epoch is not null && _throttle.ElapsedMilliseconds < 200))
            {
                return;
            }

            _throttle.Restart();
            string epoch = value.Epoch is { } e
                ? string.Create(CultureInfo.InvariantCulture, $" stage {e.Stage} epoch {e.Epoch} val loss {e.ValidationLoss:F4} acc {e.ValidationAccuracy:F2}%")
                : string.Empty;
            writer.Write($"\r\u001b[K{value.Method} seed {value.Seed}: task {value.Task + 1}/{value.Tasks}{epoch}");
        }

        public void Clear()
        {
            if (_interactive)
            {
                writer.Write("\r\u001b[K");
            }
        }
    }
}
