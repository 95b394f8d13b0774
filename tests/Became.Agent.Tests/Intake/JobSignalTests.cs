using Became.Agent.Intake;
using Microsoft.Extensions.Time.Testing;

namespace Became.Agent.Tests.Intake;

/// <summary>The worker's wake-up: a timeout on the injected clock, and no signal lost to a wait that timed out.</summary>
public sealed class JobSignalTests
{
    [Fact]
    public async Task Wait_times_out_when_the_injected_clock_passes_the_timeout()
    {
        var clock = new FakeTimeProvider();
        using var signal = new JobSignal(clock);

        // An hour on the fake clock: only the injected clock can end this wait within the test's 10 s.
        var wait = signal.WaitAsync(TimeSpan.FromHours(1), CancellationToken.None);
        Assert.False(wait.IsCompleted);
        clock.Advance(TimeSpan.FromHours(1));

        Assert.False(await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Signal_set_after_a_timed_out_wait_wakes_the_next_wait()
    {
        var clock = new FakeTimeProvider();
        using var signal = new JobSignal(clock);
        var first = signal.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.False(await first.WaitAsync(TimeSpan.FromSeconds(10)));

        signal.Set();

        Assert.True(await signal.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
