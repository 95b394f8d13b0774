using Became.Agent.Messaging;
using Became.Agent.Protocol;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Became.Agent.Tests.Messaging;

/// <summary>Epoch progress on the console: the first and last epoch of each stage, at most one line per interval between.</summary>
public sealed class ProgressLogLimiterTests
{
    private static TrainingProgress Epoch(int stage, int epoch, int epochs = 50) => new(stage, epoch, epochs, 0.1, 0.1, 90);

    private static string Shown(IEnumerable<ProgressLine> lines) =>
        string.Join(" ", lines.Select(l => $"{l.TaskId}:{l.Progress.Stage}.{l.Progress.Epoch}"));

    [Fact]
    public void A_fast_stage_shows_its_first_epoch_and_its_last_when_the_next_stage_begins()
    {
        var clock = new FakeTimeProvider();
        var limiter = new ProgressLogLimiter(clock);
        var shown = new List<ProgressLine>();
        for (int epoch = 1; epoch <= 20; epoch++)
        {
            shown.AddRange(limiter.Offer("t", Epoch(1, epoch)));
            clock.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal("t:1.1", Shown(shown));
        shown.AddRange(limiter.Offer("t", Epoch(2, 1)));
        Assert.Equal("t:1.1 t:1.20 t:2.1", Shown(shown));
    }

    [Fact]
    public void A_slow_stage_shows_at_most_one_epoch_per_interval()
    {
        var clock = new FakeTimeProvider();
        var limiter = new ProgressLogLimiter(clock, TimeSpan.FromSeconds(10));
        var shown = new List<ProgressLine>();
        for (int epoch = 1; epoch <= 12; epoch++)
        {
            shown.AddRange(limiter.Offer("t", Epoch(1, epoch)));
            clock.Advance(TimeSpan.FromSeconds(4));
        }

        // Epochs every 4 s: the first, then the first one at least 10 s after the last shown (epoch 4 at 12 s, 7, 10).
        Assert.Equal("t:1.1 t:1.4 t:1.7 t:1.10", Shown(shown));
    }

    [Fact]
    public void The_schedule_maximum_always_shows_and_nothing_is_held_after_it()
    {
        var clock = new FakeTimeProvider();
        var limiter = new ProgressLogLimiter(clock);
        Assert.Single(limiter.Offer("t", Epoch(1, 1, 3)));
        Assert.Empty(limiter.Offer("t", Epoch(1, 2, 3)));
        Assert.Equal("t:1.3", Shown(limiter.Offer("t", Epoch(1, 3, 3))));
        Assert.Null(limiter.Flush("t"));
    }

    [Fact]
    public void Another_event_of_the_task_flushes_its_held_epoch_but_one_of_another_task_does_not()
    {
        var clock = new FakeTimeProvider();
        var limiter = new ProgressLogLimiter(clock);
        limiter.Offer("t", Epoch(2, 1));
        limiter.Offer("t", Epoch(2, 2));
        Assert.Null(limiter.Flush("other"));
        Assert.Equal("t:2.2", Shown([limiter.Flush("t")!]));
        Assert.Null(limiter.Flush("t"));

        // The next task starts afresh: its first epoch shows at once.
        Assert.Equal("u:1.1", Shown(limiter.Offer("u", Epoch(1, 1))));
    }

    [Fact]
    public void The_event_log_writes_one_information_line_per_event_the_json_at_debug_and_folds_the_merge_into_deployed()
    {
        var clock = new FakeTimeProvider();
        var logger = new ListLogger();
        var log = new EventLog(logger, clock);
        log.Write(EventTypes.TaskAccepted, "t-1", new TaskAccepted(null, 2000, 2, 1), "{\"json\":1}");
        for (int epoch = 1; epoch <= 5; epoch++)
        {
            log.Write(EventTypes.TrainingProgress, "t-1", Epoch(1, epoch), "{}");
        }

        log.Write(EventTypes.ModelMerged, "t-1", new ModelMerged(0.8123), "{}");
        log.Write(EventTypes.ModelDeployed, "t-1", new ModelDeployed(2, new Dictionary<string, double> { ["t-0"] = 99, ["t-1"] = 97 }, [1], 3.19), "{}");
        log.Write(EventTypes.TaskRejected, "t-2", new TaskRejected("bad_shape", "wrong size"), "{}");

        Assert.Equal(
        [
            "Information task t-1 accepted: 2,000 samples, 2 classes, queue 1",
            "Information task t-1 stage 1 epoch 1/50: loss 0.100, val loss 0.100, val acc 90.0%",
            "Information task t-1 stage 1 epoch 5/50: loss 0.100, val loss 0.100, val acc 90.0%",
            "Information v2 deployed: t-0 99.0%, t-1 97.0% (trained in 3.2 s, merge a=0.81)",
            "Warning task t-2 rejected (bad_shape): wrong size",
        ], logger.Lines.Where(l => !l.StartsWith("Debug", StringComparison.Ordinal)));
        Assert.Contains("Debug Event task.accepted t-1: {\"json\":1}", logger.Lines);
        Assert.Contains("Debug task t-1 merged: a=0.81", logger.Lines);
        Assert.Contains("Summary=v2 deployed: t-0 99.0%, t-1 97.0% (trained in 3.2 s, merge a=0.81);Type=model.deployed;TaskId=t-1;{OriginalFormat}={Summary}", logger.States);
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        /// <summary>Each entry's structured fields, as the JSON console formatter would see them.</summary>
        public List<string> States { get; } = [];

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            Lines.Add($"{logLevel} {formatter(state, exception)}");
            if (state is IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                States.Add(string.Join(";", fields.Select(f => $"{f.Key}={f.Value}")));
            }
        }
    }
}
