using Became.Agent.Configuration;
using Became.Agent.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

// Not ...Tests.Hosting: that namespace would shadow Became.Agent.Hosting in tests that write Hosting.AgentHost.
namespace Became.Agent.Tests.HostingChecks;

/// <summary>The Device setting as the real `became run` process meets it on this CPU-only build.</summary>
[Trait("Speed", "Slow")]
public sealed class DeviceStartupTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("became-device-").FullName;

    [Fact]
    public async Task Device_cuda_without_cuda_stops_start_up_with_the_reason()
    {
        await using var agent = AgentProcess.Start(_data, null, "--device", "cuda");
        Assert.Equal(2, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        string message = agent.Errors;
        Assert.Contains("Device 'cuda' was requested but CUDA is not available", message, StringComparison.Ordinal);
        Assert.Contains("Device=auto", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Device_auto_falls_back_to_the_cpu_and_logs_backend_device_libtorch_and_threads()
    {
        await using var agent = AgentProcess.Start(_data, null, "--device", "auto", "--Training:Threads=2");
        string? line = await agent.LineContainingAsync("Torch backend", TimeSpan.FromSeconds(60));
        Assert.NotNull(line);
        Assert.Matches(@"Torch backend cpu, libtorch \d+\.\d+[\d.]*, device cpu \(auto: CUDA not available to the cpu libtorch, falling back to the CPU\), 2 threads", line);
    }

    [Fact]
    public void Unknown_device_setting_is_refused_at_start_up()
    {
        using var host = AgentHost.Build(["--device", "gpu"]);
        var error = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<AgentOptions>>().Value);
        Assert.Contains(error.Failures, f => f.Contains("Device 'gpu'", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_data, recursive: true);
}
