using Became.Agent.Messaging;
using Became.Agent.Protocol;
using Became.Protocol;

namespace Became.Agent.Tests.Messaging;

/// <summary>The console line of every event type: short, one line, figures rounded for people.</summary>
public sealed class EventLogLineTests
{
    private static readonly Dictionary<string, double> TwoTasks = new() { ["t-0"] = 98.0625, ["t-1"] = 97.58 };

    [Fact]
    public void Accepted_gives_samples_with_separators_classes_and_queue()
    {
        Assert.Equal("task t-3 accepted: 6,000 samples, 2 classes, queue 1", EventLogLine.Describe("t-3", new TaskAccepted(null, 6000, 2, 1)));
        Assert.Equal("task split-fmnist-0 (classes 0-1) accepted: 12,000 samples, 2 classes, queue 5",
            EventLogLine.Describe("split-fmnist-0", new TaskAccepted("classes 0-1", 12000, 2, 5)));
    }

    [Fact]
    public void Duplicate_says_it_is_not_learned_again() =>
        Assert.Equal("task t-3 came again with the same data: already learned, not learned again", EventLogLine.Describe("t-3", new TaskDuplicate("learned")));

    [Fact]
    public void Rejected_and_deferred_give_reason_and_message()
    {
        Assert.Equal("task t-4 rejected (bad_shape): x has 10 values per sample; this device takes 784",
            EventLogLine.Describe("t-4", new TaskRejected("bad_shape", "x has 10 values per sample; this device takes 784")));
        Assert.Equal("task t-4 deferred (storage_error): No space left on device; the broker delivers it again",
            EventLogLine.Describe("t-4", new TaskDeferred("storage_error", "No space left on device")));
    }

    [Fact]
    public void Progress_rounds_losses_to_three_decimals_and_accuracy_to_one()
    {
        Assert.Equal("task t-1 stage 2 epoch 7/50: loss 0.123, val loss 0.146, val acc 97.6%",
            EventLogLine.Describe("t-1", new TrainingProgress(2, 7, 50, 0.12345, 0.14567, 97.56)));
        Assert.Equal("task t-1 stage 1 epoch 1/50: loss n/a, val loss n/a",
            EventLogLine.Describe("t-1", new TrainingProgress(1, 1, 50, null, null, null)));
    }

    [Fact]
    public void Merged_gives_the_coefficient_with_two_decimals() =>
        Assert.Equal("task t-1 merged: a=0.83", EventLogLine.Describe("t-1", new ModelMerged(0.8336096036040441)));

    [Fact]
    public void Deployed_gives_every_accuracy_training_time_and_the_merge()
    {
        Assert.Equal("v3 deployed: t-0 98.1%, t-1 97.6% (trained in 3.2 s, merge a=0.81)",
            EventLogLine.Describe("t-1", new ModelDeployed(3, TwoTasks, [63, 35], 3.19), 0.8123));
        Assert.Equal("v1 deployed: t-0 98.1% (trained in 124 s)",
            EventLogLine.Describe("t-0", new ModelDeployed(1, new Dictionary<string, double> { ["t-0"] = 98.05 }, [32], 123.6)));
        Assert.Equal("v2 deployed again (rollback): t-0 98.1%, t-1 97.6%",
            EventLogLine.Describe("t-1", new ModelDeployed(2, TwoTasks, Rollback: true)));
    }

    [Fact]
    public void Deployed_after_an_adoption_names_the_peer_and_its_version()
    {
        Assert.Equal("v4 deployed: t-0 98.1%, t-1 97.6% (adopted from gpu-1 v7)",
            EventLogLine.Describe("t-1", new ModelDeployed(4, TwoTasks, AdoptedFrom: new AdoptedFrom("gpu-1", 7))));
    }

    [Fact]
    public void Deployed_with_many_tasks_gives_the_new_one_the_mean_and_the_lowest()
    {
        var accuracy = Enumerable.Range(0, 10).ToDictionary(i => $"t-{i}", i => i == 4 ? 90.0 : 99.0);
        string line = EventLogLine.Describe("t-9", new ModelDeployed(10, accuracy, TrainingSeconds: 4.2));
        Assert.Equal("v10 deployed: t-9 99.0%; 10 tasks, mean 98.1%, lowest t-4 90.0% (trained in 4.2 s)", line);
    }

    [Fact]
    public void Rejected_version_says_which_version_keeps_serving()
    {
        string line = EventLogLine.Describe("t-2", new ModelRejected(4, 3, "t-0 fell 12.5 points", new Dictionary<string, double> { ["t-0"] = 85.5, ["t-2"] = 99 }, TwoTasks));
        Assert.Equal("v4 not deployed (t-0 fell 12.5 points); v3 keeps serving: t-0 85.5%, t-2 99.0%", line);
    }

    [Fact]
    public void Corrupt_gives_the_fallback_reasons_and_the_tasks_lost() =>
        Assert.Equal("v4 corrupt, serving v3: version 4: checksum mismatch; tasks to learn again: t-3",
            EventLogLine.Describe(null, new ModelCorrupt(4, 3, ["version 4: checksum mismatch"], ["t-3"])));

    [Fact]
    public void Failed_says_whether_it_is_retried_or_was_committed()
    {
        Assert.Equal("task t-1 failed (attempt 2), stays queued, retry in 10 s: No space left on device",
            EventLogLine.Describe("t-1", new JobFailed("No space left on device", Retry: true, Attempt: 2, RetryInSeconds: 10)));
        Assert.Equal("task t-1 failed: training diverged", EventLogLine.Describe("t-1", new JobFailed("training diverged", Retry: false)));
        Assert.Equal("task t-1 learned into v4, then a later step failed: disk gone",
            EventLogLine.Describe("t-1", new JobFailed("disk gone", Retry: false, Committed: true, Version: 4)));
    }

    [Fact]
    public void Interrupted_gives_the_start_time_in_utc() =>
        Assert.Equal("task t1 was interrupted (started 05:25:56 UTC): it trains again from the beginning; removed 2 unreferenced files",
            EventLogLine.Describe("t1", new JobInterrupted(new DateTime(2026, 12, 1, 5, 25, 56, DateTimeKind.Utc), 2)));

    [Fact]
    public void Request_rejected_and_message_dropped_name_what_and_why()
    {
        Assert.Equal("infer request rejected (no_response_topic): the request has no response topic",
            EventLogLine.Describe(null, new RequestRejected("infer", "no_response_topic", "the request has no response topic")));
        Assert.Equal("message to became/d/events (1.5 MiB) dropped (too_large): over the broker's maximum packet size",
            EventLogLine.Describe(null, new MessageDropped("became/d/events", 1572864, "too_large", "over the broker's maximum packet size")));
    }

    [Theory]
    [InlineData(0.004, "<0.01 s")]
    [InlineData(0.4249, "0.42 s")]
    [InlineData(3.19, "3.2 s")]
    [InlineData(42.4, "42 s")]
    [InlineData(599.4, "599 s")]
    [InlineData(845, "14 min")]
    public void Seconds_keep_one_to_three_significant_digits(double seconds, string text) =>
        Assert.Equal(text, EventLogLine.Seconds(seconds));

    [Fact]
    public void Every_event_type_has_a_line_of_its_own()
    {
        // A new event type without a case here would be logged as its bare type name.
        object[] all =
        [
            new TaskAccepted(null, 1, 2, 1), new TaskDuplicate("learned"), new TaskRejected("r", "m"), new TaskDeferred("r", "m"),
            new TrainingProgress(1, 1, 2, 0.1, 0.1, 50), new ModelMerged(0.5), new ModelDeployed(1, TwoTasks),
            new ModelRejected(2, 1, "r", TwoTasks, null), new ModelCorrupt(2, 1, [], []), new JobFailed("r", false),
            new JobInterrupted(null, 0), new RequestRejected("infer", "r", "m"), new MessageDropped("t", 1, "r", "m"),
        ];
        var types = typeof(IAgentEvent).Assembly.GetTypes().Where(t => t.IsClass && typeof(IAgentEvent).IsAssignableFrom(t)).ToList();
        Assert.Equal(types.Count, all.Length);
        foreach (object e in all)
        {
            Assert.DoesNotContain(e.GetType().Name, EventLogLine.Describe("t", (IAgentEvent)e), StringComparison.Ordinal);
        }
    }
}
