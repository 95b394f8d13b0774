using System.Text.Json;
using Became.Agent.Protocol;
using Became.Protocol;

// Not ...Tests.Protocol: that namespace would shadow Became.Agent.Protocol in the tests.
namespace Became.Agent.Tests.ProtocolChecks;

/// <summary>The typed events and replies write the JSON the dictionaries wrote before: same camelCase names, same
/// fields, optional ones left out only where they were absent before, and null kept where it was written.</summary>
public sealed class EventJsonTests
{
    [Fact]
    public void Job_failed_writes_the_fields_of_its_kind_only()
    {
        Assert.Equal("""{"reason":"disk full","retry":true,"attempt":2,"retryInSeconds":1.5}""", Json(new JobFailed("disk full", true, Attempt: 2, RetryInSeconds: 1.5)));
        Assert.Equal("""{"reason":"bad","retry":false}""", Json(new JobFailed("bad", false)));
        Assert.Equal("""{"reason":"gone","retry":false,"committed":true,"version":4}""", Json(new JobFailed("gone", false, Committed: true, Version: 4)));
    }

    [Fact]
    public void Model_deployed_by_a_job_and_by_a_rollback_keep_their_fields()
    {
        var accuracy = new Dictionary<string, double> { ["a"] = 91.25 };
        Assert.Equal("""{"version":2,"accuracy":{"a":91.25},"memoryRanks":[3,4],"trainingSeconds":1.5}""", Json(new ModelDeployed(2, accuracy, MemoryRanks: [3, 4], TrainingSeconds: 1.5)));
        Assert.Equal("""{"version":1,"accuracy":{"a":91.25},"rollback":true}""", Json(new ModelDeployed(1, accuracy, Rollback: true)));
    }

    [Fact]
    public void Null_figures_are_written_as_null()
    {
        Assert.Equal("""{"stage":1,"epoch":2,"epochs":5,"loss":null,"validationLoss":0.5,"validationAccuracy":null,"samplesPerSecond":null}""", Json(new TrainingProgress(1, 2, 5, null, 0.5, null)));
        Assert.Equal("""{"version":2,"deployedVersion":0,"reason":"worse","accuracy":{},"deployedAccuracy":null}""", Json(new ModelRejected(2, 0, "worse", new Dictionary<string, double>(), null)));
        Assert.Equal("""{"name":null,"samples":10,"classes":2,"queueLength":1}""", Json(new TaskAccepted(null, 10, 2, 1)));
    }

    [Fact]
    public void Status_and_replies_are_camel_case()
    {
        var time = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        Assert.Equal("""{"state":"idle","deployedVersion":1,"queueLength":0,"tasksLearned":1,"lastError":null,"time":"2026-01-02T03:04:05+00:00","accuracy":null,"progress":null}""",
            JsonSerializer.Serialize(new AgentStatus(AgentState.Idle, 1, 0, 1, null, time), AgentJsonContext.Default.AgentStatus));
        Assert.Equal("""{"state":"training","deployedVersion":1,"queueLength":1,"tasksLearned":1,"lastError":null,"time":"2026-01-02T03:04:05+00:00","accuracy":{"t-0":98.5},"progress":{"stage":2,"epoch":7,"epochs":50}}""",
            JsonSerializer.Serialize(new AgentStatus(AgentState.Training, 1, 1, 1, null, time, new Dictionary<string, double> { ["t-0"] = 98.5 }, new TrainingStatus(2, 7, 50)), AgentJsonContext.Default.AgentStatus));
        Assert.Equal("""{"state":"idle","deployedVersion":2,"queueLength":0,"tasksLearned":2,"lastError":null,"time":"2026-01-02T03:04:05+00:00","accuracy":null,"progress":null,"groups":["line-1"],"deviceId":"cam-07"}""",
            JsonSerializer.Serialize(new AgentStatus(AgentState.Idle, 2, 0, 2, null, time, Groups: ["line-1"], DeviceId: "cam-07"), AgentJsonContext.Default.AgentStatus));
        Assert.Equal("""{"version":3,"deployed":false,"queued":true}""", JsonSerializer.Serialize(new RollbackReply(3, false, true), AgentJson.Options));
        Assert.Equal("""{"error":"no_model","message":"none"}""", JsonSerializer.Serialize(new ErrorReply(ErrorCodes.NoModel, "none"), AgentJson.Options));
    }

    [Fact]
    public void Error_codes_answer_with_the_http_status_they_had()
    {
        Assert.Equal(404, ErrorCodes.HttpStatus(ErrorCodes.UnknownTask));
        Assert.Equal(404, ErrorCodes.HttpStatus(ErrorCodes.NoModel));
        Assert.Equal(413, ErrorCodes.HttpStatus(ErrorCodes.TooLarge));
        Assert.Equal(409, ErrorCodes.HttpStatus(ErrorCodes.CorruptVersion));
        Assert.Equal(400, ErrorCodes.HttpStatus(ErrorCodes.OutOfRange));
    }

    private static string Json<T>(T body) where T : IAgentEvent =>
        JsonSerializer.Serialize(body, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)AgentJsonContext.Default.GetTypeInfo(typeof(T))!);
}
