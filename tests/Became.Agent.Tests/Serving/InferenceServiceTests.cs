using Became.Agent.Protocol;
using Became.Agent.Serving;
using Became.Protocol;

namespace Became.Agent.Tests.Serving;

/// <summary>The request handler's checks without a broker or HTTP: each refusal carries its error code.</summary>
public sealed class InferenceServiceTests : IDisposable
{
    private readonly UnitRig _rig = new();

    public void Dispose() => _rig.Dispose();

    [Theory]
    [InlineData("not json", ErrorCodes.BadRequest)]
    [InlineData("""{"inputs": [[0.5]]}""", ErrorCodes.BadRequest)]
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

        var refused = Assert.Throws<RequestRejectedException>(() => inference.Predict(taskId, inputs, count));

        Assert.Equal(ErrorCodes.NoModel, refused.Code);
        Assert.Equal(404, ErrorCodes.HttpStatus(refused.Code));
    }
}
