using System.Text.RegularExpressions;
using Became.Core.Native;

namespace Became.Core.Tests.Native;

public sealed class ComputeDeviceTests
{
    [Theory]
    [InlineData("auto", "auto")]
    [InlineData("CPU", "cpu")]
    [InlineData(" cuda ", "cuda")]
    [InlineData("cuda:1", "cuda:1")]
    public void Device_settings_parse_to_a_request(string setting, string expected)
    {
        Assert.True(DeviceRequest.TryParse(setting, out var request));
        Assert.Equal(expected, request.ToString());
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:x")]
    [InlineData("")]
    public void Other_device_settings_are_refused_with_the_choices(string setting)
    {
        Assert.False(DeviceRequest.TryParse(setting, out _));
        var error = Assert.Throws<FormatException>(() => DeviceRequest.Parse(setting));
        Assert.Contains("auto, cpu, cuda, cuda:N", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_falls_back_to_the_cpu_and_says_so_without_cuda()
    {
        var device = ComputeDevice.Resolve(DeviceRequest.Auto, CudaAvailability.None, "cpu");
        Assert.Equal(DeviceKind.Cpu, device.Kind);
        Assert.Contains("falling back to the CPU", device.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_picks_the_first_gpu_when_cuda_is_available()
    {
        var device = ComputeDevice.Resolve(DeviceRequest.Auto, new CudaAvailability(true, 2), "cuda");
        Assert.Equal("cuda:0", device.ToString());
        Assert.Equal(TorchSharp.DeviceType.CUDA, device.Device.type);
    }

    [Fact]
    public void Cuda_without_cuda_fails_naming_the_build_and_the_fix()
    {
        var error = Assert.Throws<DeviceUnavailableException>(() => ComputeDevice.Resolve(DeviceRequest.Parse("cuda"), CudaAvailability.None, "cpu"));
        Assert.Contains("CUDA is not available", error.Message, StringComparison.Ordinal);
        Assert.Contains("-p:TorchBackend=cuda", error.Message, StringComparison.Ordinal);
        Assert.Contains("Device=auto", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cuda_index_beyond_the_visible_gpus_fails()
    {
        Assert.Equal("cuda:1", ComputeDevice.Resolve(DeviceRequest.Parse("cuda:1"), new CudaAvailability(true, 2), "cuda").ToString());
        var error = Assert.Throws<DeviceUnavailableException>(() => ComputeDevice.Resolve(DeviceRequest.Parse("cuda:2"), new CudaAvailability(true, 2), "cuda"));
        Assert.Contains("sees 2 CUDA device(s)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void This_process_resolves_auto_to_what_libtorch_offers()
    {
        // Real probe: on this project's CPU build it is the CPU fallback; on a CUDA machine the GPU.
        var cuda = CudaAvailability.Probe();
        var device = ComputeDevice.Resolve("auto");
        Assert.Equal(cuda.Available ? DeviceKind.Cuda : DeviceKind.Cpu, device.Kind);
        if (TorchBackendInfo.BuildBackend == "cpu")
        {
            Assert.False(cuda.Available);
            Assert.Throws<DeviceUnavailableException>(() => ComputeDevice.Resolve("cuda"));
        }
    }

    [Fact]
    public void Build_reports_its_backend_libtorch_version_and_threads()
    {
        var info = TorchBackendInfo.Current();
        Assert.Contains(info.Backend, new[] { "cpu", "cuda", "l4t" });
        Assert.Matches(new Regex(@"^\d+\.\d+\.\d+"), info.LibTorchVersion);
        Assert.True(info.Threads >= 1);
    }
}
