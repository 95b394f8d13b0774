using Became.Agent.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;

namespace Became.Agent.Tests.Serving;

/// <summary>HTTP runs in the agent's own host and container (not a second application built inside a service), and
/// only when HttpUrls asks for it.</summary>
public sealed class HttpHostingTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("became-http-host-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    [Fact]
    public void With_HttpUrls_the_web_server_is_a_service_of_the_agent_s_own_container()
    {
        using var host = AgentHost.Build([$"--DataDirectory={_data}", "--HttpUrls=http://127.0.0.1:0"]);

        Assert.NotNull(host.Services.GetService<IServer>());
    }

    [Fact]
    public void Without_HttpUrls_the_agent_has_no_web_server()
    {
        using var host = AgentHost.Build([$"--DataDirectory={_data}"]);

        Assert.Null(host.Services.GetService<IServer>());
    }
}
