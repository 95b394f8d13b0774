using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Protocol;

namespace Became.Agent.Serving;

/// <summary>A way to hand out a stored version's model (the model file as safetensors today; ONNX next).</summary>
public interface IModelExporter
{
    /// <summary>The name a request gives (<c>format</c>): "safetensors".</summary>
    string Format { get; }

    /// <summary>The HTTP media type of the exported bytes.</summary>
    string MediaType { get; }

    /// <summary>The file name extension, without the dot.</summary>
    string Extension { get; }

    /// <summary>The exported model of <paramref name="version"/>, from its stored model file.</summary>
    byte[] Export(ModelVersionRecord version, byte[] modelFile);
}

/// <summary>The model file as stored: a PyTorch-named safetensors state dict with Became's metadata.</summary>
public sealed class SafetensorsExporter : IModelExporter
{
    public string Format => ModelExporters.Default;

    public string MediaType => "application/octet-stream";

    public string Extension => "safetensors";

    public byte[] Export(ModelVersionRecord version, byte[] modelFile) => modelFile;
}

/// <summary>The registered exporters by format, for HTTP, the MQTT pull and what they answer.</summary>
public sealed class ModelExporters(IEnumerable<IModelExporter> exporters)
{
    /// <summary>The format served when a request names none.</summary>
    public const string Default = "safetensors";

    private readonly Dictionary<string, IModelExporter> _byFormat = exporters.ToDictionary(e => e.Format, StringComparer.OrdinalIgnoreCase);

    /// <summary>The formats this device exports.</summary>
    public IReadOnlyCollection<string> Formats => _byFormat.Keys;

    /// <summary>The exporter of <paramref name="format"/> (null: the default); an unknown one is a bad_request naming the known ones.</summary>
    public IModelExporter Find(string? format) =>
        _byFormat.TryGetValue(format ?? Default, out var exporter)
            ? exporter
            : throw new RequestRejectedException(ErrorCodes.BadRequest, $"Unknown model format '{Shown(format!)}'; this device exports: {string.Join(", ", _byFormat.Keys.Order(StringComparer.Ordinal))}.");

    /// <summary>The exported bytes of <paramref name="version"/> and their sha256 (the model blob's own name for the stored format).</summary>
    public (byte[] Bytes, string Sha256) Export(IModelExporter exporter, ModelVersionRecord version, byte[] modelFile)
    {
        byte[] bytes = exporter.Export(version, modelFile);
        return (bytes, ReferenceEquals(bytes, modelFile) ? version.ModelBlob : BlobStore.Hash(bytes));
    }

    private static string Shown(string format) => format.Length <= 40 ? format : format[..40] + "...";
}
