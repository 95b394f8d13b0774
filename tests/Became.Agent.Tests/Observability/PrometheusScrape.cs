using System.Globalization;
using System.Text.RegularExpressions;

namespace Became.Agent.Tests.Observability;

/// <summary>One sample of a Prometheus text scrape: the series name, its labels and its value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>Reads the Prometheus text exposition format (the lines a scrape returns), enough to check series and values.</summary>
public sealed partial class PrometheusScrape
{
    private PrometheusScrape(IReadOnlyList<PrometheusSample> samples, IReadOnlyDictionary<string, string> types, IReadOnlyDictionary<string, string> help)
    {
        Samples = samples;
        Types = types;
        Help = help;
    }

    public IReadOnlyList<PrometheusSample> Samples { get; }

    /// <summary>Metric family -> counter, gauge, histogram...</summary>
    public IReadOnlyDictionary<string, string> Types { get; }

    /// <summary>Metric family -> help text.</summary>
    public IReadOnlyDictionary<string, string> Help { get; }

    /// <summary>Every series name seen (histograms as their _bucket, _sum and _count series).</summary>
    public IReadOnlySet<string> Names => Samples.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);

    public static PrometheusScrape Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var help = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (Meta().Match(line) is { Success: true } meta)
            {
                (meta.Groups[1].Value == "TYPE" ? types : help)[meta.Groups[2].Value] = meta.Groups[3].Value;
                continue;
            }

            if (line.StartsWith('#'))
            {
                continue;
            }

            var sample = Sample().Match(line);
            Assert.True(sample.Success, $"not a Prometheus sample line: {line}");
            var labels = Label().Matches(sample.Groups[2].Value).ToDictionary(m => m.Groups[1].Value, m => Regex.Unescape(m.Groups[2].Value), StringComparer.Ordinal);
            double value = sample.Groups[3].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new PrometheusSample(sample.Groups[1].Value, labels, value));
        }

        return new PrometheusScrape(samples, types, help);
    }

    /// <summary>The samples of <paramref name="name"/> whose labels include every given pair.</summary>
    public IReadOnlyList<PrometheusSample> Find(string name, params (string Label, string Value)[] labels) =>
        [.. Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Label, out string? v) && v == l.Value))];

    /// <summary>The value of the one sample of <paramref name="name"/> with these labels.</summary>
    public double Value(string name, params (string Label, string Value)[] labels)
    {
        var found = Find(name, labels);
        Assert.True(found.Count == 1, $"{name}{{{string.Join(",", labels.Select(l => $"{l.Label}=\"{l.Value}\""))}}}: {found.Count} samples, expected one");
        return found[0].Value;
    }

    [GeneratedRegex(@"^# (TYPE|HELP) (\S+) ?(.*)$")]
    private static partial Regex Meta();

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")]
    private static partial Regex Sample();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex Label();
}

/// <summary>The metric names a PromQL expression reads (functions, keywords, label names and literals left out).</summary>
public static partial class PromQl
{
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan",
    };

    public static IReadOnlySet<string> MetricNames(string expr)
    {
        // Label matchers and durations hold no metric names; by/without/on/ignoring (...) hold label names.
        string code = Strings().Replace(expr, "\"\"");
        code = Braces().Replace(code, " ");
        code = Ranges().Replace(code, " ");
        code = Grouping().Replace(code, " ");
        return Identifier().Matches(code)
            .Where(m => !Keywords.Contains(m.Groups[1].Value.ToLowerInvariant()) && !m.Groups[2].Success)
            .Select(m => m.Groups[1].Value)
            .ToHashSet(StringComparer.Ordinal);
    }

    [GeneratedRegex(@"""(?:[^""\\]|\\.)*""")]
    private static partial Regex Strings();

    [GeneratedRegex(@"\{[^{}]*\}")]
    private static partial Regex Braces();

    [GeneratedRegex(@"\[[^\[\]]*\]")]
    private static partial Regex Ranges();

    [GeneratedRegex(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")]
    private static partial Regex Grouping();

    // An identifier not preceded by a digit or dot (a number such as 0.95 or 1e3), and whether a call follows it.
    [GeneratedRegex(@"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")]
    private static partial Regex Identifier();
}
