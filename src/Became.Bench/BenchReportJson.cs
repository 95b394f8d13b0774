using System.Text.Json;
using System.Text.Json.Serialization;

namespace Became.Bench;

/// <summary>Reads and writes <see cref="BenchReport"/> as indented camelCase JSON.</summary>
public static class BenchReportJson
{
    /// <summary>The report as indented camelCase JSON.</summary>
    public static string Serialize(BenchReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return JsonSerializer.Serialize(report, BenchJsonContext.Default.BenchReport);
    }

    /// <summary>Writes the report to <paramref name="path"/>, creating its folder if needed.</summary>
    public static void Write(BenchReport report, string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder))
        {
            Directory.CreateDirectory(folder);
        }

        File.WriteAllText(path, Serialize(report) + Environment.NewLine);
    }

    /// <summary>Parses a report written by <see cref="Serialize"/>.</summary>
    public static BenchReport Deserialize(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return JsonSerializer.Deserialize(json, BenchJsonContext.Default.BenchReport)
            ?? throw new JsonException("The bench report is null.");
    }

    /// <summary>Reads a report file written by <see cref="Write"/>.</summary>
    public static BenchReport Read(string path) => Deserialize(File.ReadAllText(path));
}

/// <summary>Source-generated serialization of the bench report.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    // A diverged run must not lose an hour's report to one NaN.
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(BenchReport))]
internal sealed partial class BenchJsonContext : JsonSerializerContext;
