namespace Became.Bench;

/// <summary>How many decimals each kind of figure keeps in a report.</summary>
internal static class BenchRounding
{
    public static double Percent(double value) => Round(value, 3);

    public static double Coefficient(double value) => Round(value, 4);

    public static double Seconds(double value) => Round(value, 2);

    public static double Throughput(double value) => Round(value, 1);

    private static double Round(double value, int decimals) =>
        double.IsFinite(value) ? Math.Round(value, decimals, MidpointRounding.AwayFromZero) : value;
}
