using Became.Agent.Intake;
using Became.Agent.Messaging;
using Became.Agent.Tests.Agent;
using Became.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Became.Agent.Tests.Messaging;

/// <summary>TaskIntake.Admit on a real store, without a broker: what is stored, what is refused and why.</summary>
public sealed class TaskIntakeTests : IDisposable
{
    private static readonly Lazy<byte[]> Payload = new(() => AgentHarness.SplitTask(0, 60));
    private readonly UnitRig _rig = new(o => o.Limits.MaxQueuedTasks = 2);
    private readonly JobSignal _signal = new(TimeProvider.System);

    public void Dispose()
    {
        _signal.Dispose();
        _rig.Dispose();
    }

    private TaskIntake Intake() => new(_rig.Store, _rig.Events, _signal, _rig.Status, TaskPayloadFormats.Default, _rig.Options, NullLogger<TaskIntake>.Instance);

    [Fact]
    public void Valid_task_is_stored_and_queued()
    {
        var accepted = Assert.IsType<Admission.Accepted>(Intake().Admit("t-0", Payload.Value));

        Assert.Equal("t-0", accepted.Task.Id);
        Assert.Equal(1, _rig.Store.QueueLength);
        Assert.True(_rig.Store.Blobs.Exists(accepted.Task.PayloadBlob!), "the payload is stored before the answer");
    }

    [Fact]
    public void Same_id_and_content_is_a_duplicate_and_same_id_with_other_content_is_refused()
    {
        var intake = Intake();
        intake.Admit("t-0", Payload.Value);

        Assert.IsType<Admission.Duplicate>(intake.Admit("t-0", Payload.Value));
        var other = (byte[])Payload.Value.Clone();
        other[^1] ^= 1;
        Assert.Equal("duplicate_id", Assert.IsType<Admission.Rejected>(intake.Admit("t-0", other)).Reason);
        Assert.Equal(1, _rig.Store.QueueLength);
    }

    [Fact]
    public void Full_queue_refuses_the_next_task()
    {
        var intake = Intake();
        intake.Admit("t-0", Payload.Value);
        intake.Admit("t-1", Payload.Value);

        Assert.Equal("queue_full", Assert.IsType<Admission.Rejected>(intake.Admit("t-2", Payload.Value)).Reason);
        Assert.Equal(2, _rig.Store.QueueLength);
    }

    [Fact]
    public void Bad_id_and_undecodable_payload_are_refused_and_nothing_is_stored()
    {
        var intake = Intake();

        Assert.Equal("bad_task_id", Assert.IsType<Admission.Rejected>(intake.Admit(string.Empty, Payload.Value)).Reason);
        var garbage = Assert.IsType<Admission.Rejected>(intake.Admit("t-0", new byte[] { 1, 2, 3 }));
        Assert.False(string.IsNullOrEmpty(garbage.Reason));
        Assert.Equal(0, _rig.Store.QueueLength);
        Assert.Null(_rig.Store.FindTask("t-0"));
    }
}
