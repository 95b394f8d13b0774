using System.Globalization;
using SkiaSharp;

namespace Became.Bench;

/// <summary>Where <see cref="BenchPlot.Save"/> wrote its PNG and which font drew its text.</summary>
/// <param name="Path">The PNG file written.</param>
/// <param name="FontFile">The TrueType file text was drawn with, or null when none was found and <see cref="SKTypeface.Default"/> was used.</param>
public sealed record BenchPlotResult(string Path, string? FontFile)
{
    /// <summary>A line for the user when no font file was found (text may then be missing from the image), else null.</summary>
    public string? FontNote => FontFile is null
        ? "No TrueType font found (tried BECAME_FONT and " + string.Join(", ", BenchPlot.FontCandidates) +
          "); the plot's text used SKTypeface.Default and may be missing. Install fonts-dejavu-core or set BECAME_FONT."
        : null;
}

/// <summary>Draws a bench's two-panel PNG: accuracy per task after the last task, and merge coefficient per task.</summary>
public static class BenchPlot
{
    /// <summary>Environment variable naming a .ttf to use before <see cref="FontCandidates"/>.</summary>
    public const string FontVariable = "BECAME_FONT";

    /// <summary>TrueType files tried in order; SkiaSharp's NoDependencies build has no fontconfig to find one itself.</summary>
    public static IReadOnlyList<string> FontCandidates { get; } =
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "/Library/Fonts/Arial.ttf",
        @"C:\Windows\Fonts\arial.ttf",
    ];

    // Matplotlib's tab10: distinct, print-safe, familiar from the reference plots.
    private static readonly SKColor[] Palette =
    [
        new(0x1f, 0x77, 0xb4), new(0xff, 0x7f, 0x0e), new(0x2c, 0xa0, 0x2c), new(0xd6, 0x27, 0x28),
        new(0x94, 0x67, 0xbd), new(0x8c, 0x56, 0x4b), new(0xe3, 0x77, 0xc2), new(0x7f, 0x7f, 0x7f),
        new(0xbc, 0xbd, 0x22), new(0x17, 0xbe, 0xcf),
    ];

    private static readonly SKColor Ink = new(0x22, 0x22, 0x22);
    private static readonly SKColor Muted = new(0x66, 0x66, 0x66);
    private static readonly SKColor Grid = new(0xe4, 0xe4, 0xe4);

    /// <summary>The colour of the <paramref name="index"/>-th method (order of first appearance in the runs).</summary>
    public static SKColor MethodColor(int index) => Palette[((index % Palette.Length) + Palette.Length) % Palette.Length];

    /// <summary>The first existing font file: <see cref="FontVariable"/>, then <see cref="FontCandidates"/>; null if none.</summary>
    public static string? FindFontFile() => FontPaths().FirstOrDefault(File.Exists);

    private static IEnumerable<string> FontPaths()
    {
        string? chosen = Environment.GetEnvironmentVariable(FontVariable);
        return string.IsNullOrWhiteSpace(chosen) ? FontCandidates : FontCandidates.Prepend(chosen);
    }

    /// <summary>
    /// Writes a <paramref name="width"/> x <paramref name="height"/> PNG to <paramref name="path"/>: left, each method's
    /// test accuracy per task after the last task; right, each merging method's coefficient per task 1..T-1 (0 to 1).
    /// Lines are means over seeds. The folder is created if needed.
    /// </summary>
    public static BenchPlotResult Save(BenchReport report, string path, int width = 1200, int height = 500)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 400);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 250);

        (SKTypeface typeface, string? fontFile) = LoadTypeface();
        using (typeface)
        {
            using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
            using (var canvas = new SKCanvas(bitmap))
            {
                Draw(canvas, report, width, height, typeface);
            }

            string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(folder))
            {
                Directory.CreateDirectory(folder);
            }

            using SKData data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            using FileStream file = File.Create(path);
            data.SaveTo(file);
        }

        return new BenchPlotResult(path, fontFile);
    }

    private static (SKTypeface Typeface, string? File) LoadTypeface()
    {
        foreach (string candidate in FontPaths().Where(File.Exists))
        {
            SKTypeface? typeface = SKTypeface.FromFile(candidate);
            if (typeface is not null)
            {
                return (typeface, candidate);
            }
        }

        // Without fontconfig this may draw nothing; BenchPlotResult.FontNote tells the user.
        return (SKTypeface.FromFamilyName(null) ?? SKTypeface.Default, null);
    }

    private sealed record Series(string Method, SKColor Color, int Marker, double[] Values);

    private static void Draw(SKCanvas canvas, BenchReport report, int width, int height, SKTypeface typeface)
    {
        canvas.Clear(SKColors.White);
        float s = Math.Min(width / 1200f, height / 500f);

        using var titleFont = TextPaint(typeface, 20 * s, Ink, bold: true);
        using var labelFont = TextPaint(typeface, 14 * s, Ink);
        using var tickFont = TextPaint(typeface, 12 * s, Ink);
        using var muted = TextPaint(typeface, 14 * s, Muted);

        var methods = report.Runs.Select(r => r.Method).Distinct(StringComparer.Ordinal).ToList();
        int seeds = report.Runs.Select(r => r.Seed).Distinct().Count();
        int tasks = report.Runs.Count == 0 ? 0 : report.Runs.Max(r => r.AccMatrix.Count);

        var accuracy = new List<Series>();
        var coefficients = new List<Series>();
        for (int m = 0; m < methods.Count; m++)
        {
            var runs = report.Runs.Where(r => string.Equals(r.Method, methods[m], StringComparison.Ordinal)).ToList();
            double[] finalRow = MeanOver(runs.Where(r => r.AccMatrix.Count > 0).Select(r => r.AccMatrix[^1]).ToList());
            if (finalRow.Length > 0)
            {
                accuracy.Add(new Series(methods[m], MethodColor(m), m, finalRow));
            }

            double[] merge = MeanOver(runs.Where(r => r.MergeCoefficients.Count > 0).Select(r => r.MergeCoefficients).ToList());
            if (merge.Length > 0)
            {
                coefficients.Add(new Series(methods[m], MethodColor(m), m, merge));
            }
        }

        // Title and one legend for both panels (same colour and marker per method on each side).
        string title = string.Create(
            CultureInfo.InvariantCulture,
            $"became bench — {report.Protocol.Stream}: {tasks} tasks, mean over {seeds} seed{(seeds == 1 ? "" : "s")}");
        DrawText(canvas, title, width / 2f, 32 * s, SKTextAlign.Center, titleFont);
        DrawLegend(canvas, methods, width / 2f, 60 * s, s, labelFont);

        float top = 104 * s;
        float bottom = height - 62 * s;
        var left = new SKRect(78 * s, top, width / 2f - 34 * s, bottom);
        var right = new SKRect(width / 2f + 78 * s, top, width - 34 * s, bottom);

        double accLow = accuracy.Count == 0 ? 0 : Math.Max(0, Math.Floor((accuracy.Min(a => a.Values.Min()) - 2) / 10) * 10);
        DrawPanel(
            canvas, left, s, "Test accuracy on each task after the last task", "task", "accuracy (%)",
            xFirst: 0, xLast: Math.Max(tasks - 1, 0), yLow: Math.Min(accLow, 90), yHigh: 100,
            accuracy, xOffset: 0, "no runs", labelFont, tickFont, muted);
        DrawPanel(
            canvas, right, s, "Merge coefficient of each task", "task", "merge coefficient",
            xFirst: 1, xLast: Math.Max(tasks - 1, 1), yLow: 0, yHigh: 1,
            coefficients, xOffset: 1, "no merging method in this bench", labelFont, tickFont, muted);
    }

    private static double[] MeanOver(IReadOnlyList<IReadOnlyList<double>> rows)
    {
        if (rows.Count == 0)
        {
            return [];
        }

        int length = rows.Min(r => r.Count);
        return Enumerable.Range(0, length).Select(i => rows.Average(r => r[i])).ToArray();
    }

    private static void DrawLegend(SKCanvas canvas, IReadOnlyList<string> methods, float centerX, float y, float s, SKPaint font)
    {
        if (methods.Count == 0)
        {
            return;
        }

        float swatch = 30 * s;
        float gap = 8 * s;
        float spacing = 28 * s;
        float[] widths = methods.Select(m => swatch + gap + font.MeasureText(m)).ToArray();
        float x = centerX - ((widths.Sum() + (spacing * (methods.Count - 1))) / 2);
        for (int m = 0; m < methods.Count; m++)
        {
            using var line = LinePaint(MethodColor(m), s);
            canvas.DrawLine(x, y, x + swatch, y, line);
            DrawMarker(canvas, m, x + (swatch / 2), y, MethodColor(m), s);
            DrawText(canvas, methods[m], x + swatch + gap, y + (font.TextSize * 0.35f), SKTextAlign.Left, font);
            x += widths[m] + spacing;
        }
    }

    private static void DrawPanel(
        SKCanvas canvas, SKRect area, float s, string title, string xLabel, string yLabel,
        int xFirst, int xLast, double yLow, double yHigh, IReadOnlyList<Series> series, int xOffset, string emptyText,
        SKPaint labelFont, SKPaint tickFont, SKPaint muted)
    {
        double xMin = xFirst - 0.5;
        double xMax = xLast + 0.5;
        float X(double v) => (float)(area.Left + ((v - xMin) / (xMax - xMin) * area.Width));
        float Y(double v) => (float)(area.Bottom - ((v - yLow) / (yHigh - yLow) * area.Height));

        using var gridPaint = new SKPaint { Color = Grid, StrokeWidth = 1 * s, IsAntialias = true, Style = SKPaintStyle.Stroke };
        using var axisPaint = new SKPaint { Color = Ink, StrokeWidth = 1.2f * s, IsAntialias = true, Style = SKPaintStyle.Stroke };

        // Horizontal grid and y ticks.
        double yStep = NiceStep((yHigh - yLow) / 5);
        for (double v = Math.Ceiling(yLow / yStep) * yStep; v <= yHigh + (yStep * 1e-6); v += yStep)
        {
            float y = Y(v);
            canvas.DrawLine(area.Left, y, area.Right, y, gridPaint);
            canvas.DrawLine(area.Left - (5 * s), y, area.Left, y, axisPaint);
            string text = v.ToString(yStep < 1 ? "0.0#" : "0", CultureInfo.InvariantCulture);
            DrawText(canvas, text, area.Left - (9 * s), y + (tickFont.TextSize * 0.35f), SKTextAlign.Right, tickFont);
        }

        // X ticks on task indices, thinned to about ten labels.
        int xStep = Math.Max(1, (int)Math.Ceiling((xLast - xFirst + 1) / 10.0));
        for (int t = xFirst; t <= xLast; t += xStep)
        {
            float x = X(t);
            canvas.DrawLine(x, area.Bottom, x, area.Bottom + (5 * s), axisPaint);
            DrawText(canvas, t.ToString(CultureInfo.InvariantCulture), x, area.Bottom + (8 * s) + tickFont.TextSize, SKTextAlign.Center, tickFont);
        }

        canvas.DrawLine(area.Left, area.Top, area.Left, area.Bottom, axisPaint);
        canvas.DrawLine(area.Left, area.Bottom, area.Right, area.Bottom, axisPaint);

        DrawText(canvas, title, area.MidX, area.Top - (12 * s), SKTextAlign.Center, labelFont);
        DrawText(canvas, xLabel, area.MidX, area.Bottom + (22 * s) + tickFont.TextSize + labelFont.TextSize * 0.5f, SKTextAlign.Center, labelFont);
        canvas.Save();
        canvas.Translate(area.Left - (50 * s), area.MidY);
        canvas.RotateDegrees(-90);
        DrawText(canvas, yLabel, 0, 0, SKTextAlign.Center, labelFont);
        canvas.Restore();

        if (series.Count == 0)
        {
            DrawText(canvas, emptyText, area.MidX, area.MidY, SKTextAlign.Center, muted);
            return;
        }

        canvas.Save();
        canvas.ClipRect(new SKRect(area.Left, area.Top - (8 * s), area.Right + (8 * s), area.Bottom));
        foreach (Series line in series)
        {
            using var paint = LinePaint(line.Color, s);
            using var pathLine = new SKPath();
            for (int i = 0; i < line.Values.Length; i++)
            {
                var point = new SKPoint(X(i + xOffset), Y(Math.Clamp(line.Values[i], yLow, yHigh)));
                if (i == 0)
                {
                    pathLine.MoveTo(point);
                }
                else
                {
                    pathLine.LineTo(point);
                }
            }

            canvas.DrawPath(pathLine, paint);
            for (int i = 0; i < line.Values.Length; i++)
            {
                DrawMarker(canvas, line.Marker, X(i + xOffset), Y(Math.Clamp(line.Values[i], yLow, yHigh)), line.Color, s);
            }
        }

        canvas.Restore();
    }

    private static SKPaint TextPaint(SKTypeface typeface, float size, SKColor color, bool bold = false) => new()
    {
        Typeface = typeface,
        TextSize = size,
        Color = color,
        IsAntialias = true,
        SubpixelText = true,
        FakeBoldText = bold,
    };

    private static void DrawText(SKCanvas canvas, string text, float x, float y, SKTextAlign align, SKPaint paint)
    {
        paint.TextAlign = align;
        canvas.DrawText(text, x, y, paint);
    }

    private static SKPaint LinePaint(SKColor color, float s) => new()
    {
        Color = color,
        StrokeWidth = 2.2f * s,
        IsAntialias = true,
        Style = SKPaintStyle.Stroke,
        StrokeJoin = SKStrokeJoin.Round,
        StrokeCap = SKStrokeCap.Round,
    };

    /// <summary>Circle, square, triangle, diamond, in turn, so lines stay apart in greyscale too.</summary>
    private static void DrawMarker(SKCanvas canvas, int kind, float x, float y, SKColor color, float s)
    {
        using var fill = new SKPaint { Color = color, IsAntialias = true, Style = SKPaintStyle.Fill };
        using var edge = new SKPaint { Color = SKColors.White, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = 1.2f * s };
        float r = 4.5f * s;
        using var path = new SKPath();
        switch (kind % 4)
        {
            case 0:
                path.AddCircle(x, y, r);
                break;
            case 1:
                path.AddRect(new SKRect(x - (r * 0.9f), y - (r * 0.9f), x + (r * 0.9f), y + (r * 0.9f)));
                break;
            case 2:
                path.MoveTo(x, y - (r * 1.2f));
                path.LineTo(x + (r * 1.1f), y + (r * 0.8f));
                path.LineTo(x - (r * 1.1f), y + (r * 0.8f));
                path.Close();
                break;
            default:
                path.MoveTo(x, y - (r * 1.25f));
                path.LineTo(x + r, y);
                path.LineTo(x, y + (r * 1.25f));
                path.LineTo(x - r, y);
                path.Close();
                break;
        }

        canvas.DrawPath(path, fill);
        canvas.DrawPath(path, edge);
    }

    /// <summary>1, 2, 2.5 or 5 times a power of ten, at least <paramref name="rough"/>.</summary>
    private static double NiceStep(double rough)
    {
        if (rough <= 0 || !double.IsFinite(rough))
        {
            return 1;
        }

        double power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        double fraction = rough / power;
        double nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10;
        return nice * power;
    }
}
