using Became.Agent.Mqtt;

namespace Became.Agent.Tests.Mqtt;

/// <summary>Reconnection delays: bounded, growing, jittered.</summary>
public sealed class ReconnectBackoffTests
{
    private static readonly TimeSpan Min = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(30);

    [Fact]
    public void Delays_stay_between_the_minimum_and_the_maximum()
    {
        var random = new Random(1);
        for (var failures = 1; failures <= 100; failures++)
        {
            var delay = ReconnectBackoff.Delay(failures, Min, Max, random);
            Assert.InRange(delay, Min, Max);
        }
    }

    [Fact]
    public void Delays_double_per_failure_until_the_maximum()
    {
        // With jitter the delay lies in [ceiling/2, ceiling], ceiling = min * 2^(failures-1) capped at max.
        var random = new Random(2);
        Assert.InRange(ReconnectBackoff.Delay(4, Min, Max, random), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4));
        Assert.InRange(ReconnectBackoff.Delay(20, Min, Max, random), TimeSpan.FromSeconds(15), Max);
    }

    [Fact]
    public void Jitter_spreads_devices_that_failed_equally_often()
    {
        var random = new Random(3);
        var delays = Enumerable.Range(0, 50).Select(_ => ReconnectBackoff.Delay(6, Min, Max, random)).Distinct().Count();
        Assert.True(delays > 40, $"only {delays} distinct delays");
    }
}
