using System.Diagnostics;
using Became.Core.Training;

namespace Became.Agent.Jobs;

/// <summary>One epoch as the job reports it: Core's figures plus the training throughput the Agent measured.</summary>
/// <param name="Epoch">The epoch's figures from the trainer.</param>
/// <param name="SamplesPerSecond">Training samples of the epoch over its wall-clock seconds (validation included).</param>
public sealed record EpochReport(EpochProgress Epoch, double SamplesPerSecond);

/// <summary>
/// Times the epochs of one task as the trainer reports them: each report's rate is the training set's size over the
/// seconds since the previous report (or since the job's learning began), so it covers the whole epoch, validation
/// and stage changes included: what an operator waits for, not a kernel benchmark.
/// </summary>
public sealed class EpochRate(IProgress<EpochReport> inner, int samplesPerEpoch) : IProgress<EpochProgress>
{
    private long _since = Stopwatch.GetTimestamp();

    public void Report(EpochProgress value)
    {
        ArgumentNullException.ThrowIfNull(value);
        long now = Stopwatch.GetTimestamp();
        double seconds = Stopwatch.GetElapsedTime(_since, now).TotalSeconds;
        _since = now;
        inner.Report(new EpochReport(value, seconds > 0 ? samplesPerEpoch / seconds : 0));
    }
}
