using Became.Bench;
using SkiaSharp;

namespace Became.Bench.Tests;

public sealed class BenchPlotTests
{
    /// <summary>Plots are kept here after the tests so a person can look at them.</summary>
    private static readonly string Folder = Path.Combine(Path.GetTempPath(), "became-agent-tests");

    private static SKBitmap Decode(string path) =>
        SKBitmap.Decode(path) ?? throw new InvalidOperationException($"{path} is not an image SkiaSharp can decode.");

    [Fact]
    public void Plot_is_a_png_of_the_requested_size()
    {
        string path = Path.Combine(Folder, "bench-plot.png");

        BenchPlot.Save(BenchSamples.TenTaskReport(), path);

        byte[] signature = File.ReadAllBytes(path).Take(8).ToArray();
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, signature);
        using SKBitmap bitmap = Decode(path);
        Assert.Equal(1200, bitmap.Width);
        Assert.Equal(500, bitmap.Height);
    }

    [Fact]
    public void Plot_honours_a_custom_size()
    {
        string path = Path.Combine(Folder, "bench-plot-small.png");

        BenchPlot.Save(BenchSamples.TwoSeedReport(), path, 800, 360);

        using SKBitmap bitmap = Decode(path);
        Assert.Equal((800, 360), (bitmap.Width, bitmap.Height));
    }

    [Fact]
    public void Plot_is_not_blank()
    {
        string path = Path.Combine(Folder, "bench-plot-colours.png");

        BenchPlot.Save(BenchSamples.TenTaskReport(), path);

        using SKBitmap bitmap = Decode(path);
        int distinct = bitmap.Pixels.Distinct().Count();
        int nonWhite = bitmap.Pixels.Count(p => p != SKColors.White);
        Assert.True(distinct > 100, $"only {distinct} distinct colours");
        Assert.True(nonWhite > 10_000, $"only {nonWhite} non-white pixels");
    }

    [Fact]
    public void Plot_draws_every_method_in_its_colour()
    {
        string path = Path.Combine(Folder, "bench-plot-methods.png");

        BenchPlot.Save(BenchSamples.TenTaskReport(), path);

        using SKBitmap bitmap = Decode(path);
        var counts = bitmap.Pixels.GroupBy(p => p).ToDictionary(g => g.Key, g => g.Count());
        for (int m = 0; m < 4; m++)
        {
            SKColor colour = BenchPlot.MethodColor(m);
            Assert.True(counts.GetValueOrDefault(colour) > 200, $"method {m}'s colour {colour} is barely drawn");
        }
    }

    [Fact]
    public void Plot_without_merging_methods_is_still_written()
    {
        string path = Path.Combine(Folder, "bench-plot-no-merge.png");

        BenchPlot.Save(BenchSamples.TenTaskReport(withMerging: false), path);

        using SKBitmap bitmap = Decode(path);
        Assert.Equal(1200, bitmap.Width);
    }

    [Fact]
    public void Plot_text_uses_a_font_file_when_one_is_installed()
    {
        string path = Path.Combine(Folder, "bench-plot-font.png");

        BenchPlotResult result = BenchPlot.Save(BenchSamples.TwoSeedReport(), path);

        Assert.Equal(BenchPlot.FindFontFile(), result.FontFile);
        Assert.Equal(result.FontFile is null, result.FontNote is not null);
    }

    [Fact]
    public void Plot_text_is_drawn_in_the_title_band()
    {
        string path = Path.Combine(Folder, "bench-plot-title.png");

        BenchPlot.Save(BenchSamples.TwoSeedReport(), path);

        // Above the legend only the title is drawn: dark pixels there mean glyphs rendered.
        using SKBitmap bitmap = Decode(path);
        int dark = 0;
        for (int y = 10; y < 42; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
            {
                SKColor c = bitmap.GetPixel(x, y);
                if (c.Red < 100 && c.Green < 100 && c.Blue < 100)
                {
                    dark++;
                }
            }
        }

        Assert.True(dark > 200, $"only {dark} dark pixels where the title should be");
    }
}
