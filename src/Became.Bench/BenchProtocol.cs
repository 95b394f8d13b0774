using System.Globalization;
using System.Runtime.InteropServices;

namespace Became.Bench;

/// <summary>The settings a bench ran under, written at the head of its report.</summary>
/// <param name="Stream">The task stream, e.g. split-fmnist or permuted-fmnist.</param>
/// <param name="Methods">The methods run, in the order given.</param>
/// <param name="Seeds">The seeds each method ran with.</param>
/// <param name="Epochs">Training epochs per task (and stage).</param>
/// <param name="BatchSize">Training batch size.</param>
/// <param name="Lr">Learning rate.</param>
/// <param name="Fisher">"exact" (per-sample gradients) or "batch" (per-batch gradients).</param>
/// <param name="FisherLabels">"true" (the model's argmax prediction, as the reference) or "empirical" (the dataset's labels).</param>
/// <param name="ProjectionSite">"inputs" (projected layer inputs) or "gradients" (projected gradients, the reference's path).</param>
/// <param name="Thresholds">Energy thresholds of the gradient memory, per layer or per task.</param>
/// <param name="SamplesForMemory">Samples per task used to build the memory bases.</param>
/// <param name="Threads">Torch intra-op threads.</param>
/// <param name="TrainPerTask">Training samples used per task, or null for all of them.</param>
/// <param name="DataDirectory">Where the data sets were read from.</param>
/// <param name="Machine">A short description of the machine; see <see cref="DescribeMachine"/>.</param>
/// <param name="Libtorch">The libtorch build used, e.g. "2.10.0 cpu".</param>
/// <param name="StartedAt">When the bench started.</param>
/// <param name="Model">The network: "mlp" or "alexnet[:width]".</param>
/// <param name="Projection">Stage 1's projection: "gpm" or "sgp".</param>
/// <param name="ThresholdIncrement">Added to every threshold per task.</param>
/// <param name="LayerSamples">Samples per layer's representation matrix, or null for <paramref name="SamplesForMemory"/> everywhere.</param>
/// <param name="SgpScale">SGP's scale coefficient, or null with GPM.</param>
/// <param name="Device">Where the tensors lived, e.g. "cpu" or "cuda:0".</param>
/// <param name="InputShape">The image networks' input shape ([1, 28, 28] unless padded), or null for flat inputs.</param>
/// <param name="InitialWeights">The file every run's body started from, or null for the family's own initialisation.</param>
public sealed record BenchProtocol(
    string Stream,
    IReadOnlyList<string> Methods,
    IReadOnlyList<int> Seeds,
    int Epochs,
    int BatchSize,
    double Lr,
    string Fisher,
    string FisherLabels,
    string ProjectionSite,
    IReadOnlyList<double> Thresholds,
    int SamplesForMemory,
    int Threads,
    int? TrainPerTask,
    string DataDirectory,
    string Machine,
    string Libtorch,
    DateTimeOffset StartedAt,
    string Model = "mlp",
    string Projection = "gpm",
    double ThresholdIncrement = 0,
    IReadOnlyList<int>? LayerSamples = null,
    double? SgpScale = null,
    string Device = "cpu",
    IReadOnlyList<long>? InputShape = null,
    BenchInitialWeights? InitialWeights = null)
{
    /// <summary>Processor count, OS and .NET version in one short line, e.g. "16 CPUs, Ubuntu 24.04 LTS (x64), .NET 10.0.0".</summary>
    public static string DescribeMachine() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"{Environment.ProcessorCount} CPUs, {OsName()} ({RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant()}), {RuntimeInformation.FrameworkDescription}");

    private static string OsName()
    {
        // OSDescription on Linux is the kernel's uname line; the distribution's PRETTY_NAME says more in less.
        const string osRelease = "/etc/os-release";
        if (OperatingSystem.IsLinux() && File.Exists(osRelease))
        {
            try
            {
                string? pretty = File.ReadLines(osRelease)
                    .FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal));
                if (pretty is not null)
                {
                    string name = pretty["PRETTY_NAME=".Length..].Trim().Trim('"');
                    if (name.Length > 0)
                    {
                        return name;
                    }
                }
            }
            catch (IOException)
            {
                // Fall through to the runtime's description.
            }
            catch (UnauthorizedAccessException)
            {
                // Fall through to the runtime's description.
            }
        }

        return RuntimeInformation.OSDescription.Trim();
    }
}

/// <summary>The initial weights of a bench's networks: the file's name and its sha256.</summary>
/// <param name="File">The file's name (without its folder).</param>
/// <param name="Sha256">Its sha256, lower-case hex.</param>
public sealed record BenchInitialWeights(string File, string Sha256);
