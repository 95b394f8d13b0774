using Became.Agent.Deployment;
using Became.Agent.Protocol;
using Became.Agent.Serving;
using Became.Core.Models;
using Became.Protocol;

namespace Became.Agent.Tests.Serving;

/// <summary>The request handler's checks without a broker or HTTP: each refusal carries its error code.</summary>
public sealed class InferenceServiceTests : IDisposable
{
    private readonly UnitRig _rig = new();

    public void Dispose() => _rig.Dispose();

    [Theory]
    [InlineData("not json", ErrorCodes.BadRequest)]
    [InlineData("""{"taskId": 5, "inputs": [[0.5]]}""", ErrorCodes.BadRequest)]
    [InlineData("""{"inputs": [[0.5]]}""", ErrorCodes.BadShape)]
    [InlineData("""{"taskId": "a", "inputs": [[0.5]]}""", ErrorCodes.BadShape)]
    public void Malformed_request_is_refused_with_its_code(string body, string code)
    {
        var inference = new InferenceService(_rig.Deployed, _rig.Options);

        var refused = Assert.Throws<RequestRejectedException>(() => inference.Parse(System.Text.Encoding.UTF8.GetBytes(body)));

        Assert.Equal(code, refused.Code);
    }

    [Fact]
    public void Well_formed_request_before_any_model_is_no_model()
    {
        var inference = new InferenceService(_rig.Deployed, _rig.Options);
        var (taskId, inputs, count) = inference.Parse(System.Text.Encoding.UTF8.GetBytes($$"""{"taskId": "a", "inputs": [[{{string.Join(", ", Enumerable.Repeat("0.5", 784))}}]]}"""));

        var refused = Assert.Throws<RequestRejectedException>(() => inference.Predict(taskId!, inputs, count));

        Assert.Equal(ErrorCodes.NoModel, refused.Code);
        Assert.Equal(404, ErrorCodes.HttpStatus(refused.Code));
    }

    [Fact]
    public void A_request_without_a_task_id_parses_to_none()
    {
        var inference = new InferenceService(_rig.Deployed, _rig.Options);

        var (taskId, _, count) = inference.Parse(System.Text.Encoding.UTF8.GetBytes(OneInput(taskId: null)));

        Assert.Null(taskId);
        Assert.Equal(1, count);
    }

    [Fact]
    public void Without_a_task_id_a_version_without_class_statistics_is_no_task_statistics()
    {
        // A version made before the statistics existed serves with a task id only, and says so.
        var network = ModelSpec.Mlp([10]).Create([784]);
        network.AddHead(2);
        _rig.Deployed.Swap(new DeployedSnapshot(1, ["a"], network));
        var inference = new InferenceService(_rig.Deployed, _rig.Options);

        var refused = Assert.Throws<RequestRejectedException>(() => inference.Answer(System.Text.Encoding.UTF8.GetBytes(OneInput(taskId: null))));
        var answered = inference.Answer(System.Text.Encoding.UTF8.GetBytes(OneInput(taskId: "a")));

        Assert.Equal(ErrorCodes.NoTaskStatistics, refused.Code);
        Assert.Equal(409, ErrorCodes.HttpStatus(refused.Code));
        Assert.Contains("taskId", refused.Message);
        Assert.Equal("a", answered.TaskId);
    }

    private static string OneInput(string? taskId) =>
        $$"""{{{(taskId is null ? "" : $"\"taskId\": \"{taskId}\", ")}}"inputs": [[{{string.Join(", ", Enumerable.Repeat("0.5", 784))}}]]}""";
}
