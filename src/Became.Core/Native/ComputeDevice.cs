using System.Globalization;
using System.Reflection;
using TorchSharp;

namespace Became.Core.Native;

/// <summary>The kinds of compute device a setting can ask for.</summary>
public enum DeviceKind
{
    /// <summary>CUDA when libtorch sees a GPU, else the CPU.</summary>
    Auto,
    Cpu,
    Cuda,
}

/// <summary>A device setting as written: <c>auto</c>, <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
public sealed record DeviceRequest(DeviceKind Kind, int? Index = null)
{
    public static DeviceRequest Auto { get; } = new(DeviceKind.Auto);

    /// <summary>Reads a setting (case-insensitive); false for anything else, e.g. <c>gpu</c> or <c>cuda:-1</c>.</summary>
    public static bool TryParse(string? text, out DeviceRequest request)
    {
        request = Auto;
        string value = (text ?? "").Trim().ToLowerInvariant();
        switch (value)
        {
            case "auto":
                return true;
            case "cpu":
                request = new DeviceRequest(DeviceKind.Cpu);
                return true;
            case "cuda":
                request = new DeviceRequest(DeviceKind.Cuda);
                return true;
        }

        if (value.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(value.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            request = new DeviceRequest(DeviceKind.Cuda, index);
            return true;
        }

        return false;
    }

    public static DeviceRequest Parse(string? text) =>
        TryParse(text, out var request) ? request : throw new FormatException($"Device '{text}' is not one of auto, cpu, cuda, cuda:N.");

    public override string ToString() => Kind switch
    {
        DeviceKind.Cpu => "cpu",
        DeviceKind.Cuda => Index is int i ? $"cuda:{i}" : "cuda",
        _ => "auto",
    };
}

/// <summary>What libtorch offers this process: whether CUDA works and how many GPUs it sees.</summary>
public sealed record CudaAvailability(bool Available, int DeviceCount)
{
    public static CudaAvailability None { get; } = new(false, 0);

    /// <summary>Asks libtorch; a CPU-only build answers false without error.</summary>
    public static CudaAvailability Probe()
    {
        TorchRuntime.Initialize();
        return torch.cuda.is_available() ? new CudaAvailability(true, torch.cuda.device_count()) : None;
    }
}

/// <summary>A device request that this machine cannot honour; the message says why and what to change.</summary>
public sealed class DeviceUnavailableException(string message) : Exception(message);

/// <summary>The device tensors live on, chosen from a request and what the machine offers, with the reason.</summary>
public sealed record ComputeDevice(DeviceKind Kind, int Index, string Reason)
{
    public static ComputeDevice Cpu { get; } = new(DeviceKind.Cpu, 0, "cpu requested");

    public bool IsCuda => Kind == DeviceKind.Cuda;

    /// <summary>The TorchSharp device (made on each call: a <see cref="torch.Device"/> is a small mutable object).</summary>
    public torch.Device Device => IsCuda ? new torch.Device(DeviceType.CUDA, Index) : torch.CPU;

    /// <summary>Honours the request or throws <see cref="DeviceUnavailableException"/>; <c>auto</c> never throws.</summary>
    public static ComputeDevice Resolve(DeviceRequest request, CudaAvailability cuda, string backend)
    {
        switch (request.Kind)
        {
            case DeviceKind.Cpu:
                return Cpu;
            case DeviceKind.Auto:
                return cuda.Available && cuda.DeviceCount > 0
                    ? new ComputeDevice(DeviceKind.Cuda, 0, $"auto: CUDA available, {cuda.DeviceCount} device(s)")
                    : new ComputeDevice(DeviceKind.Cpu, 0, $"auto: CUDA not available to the {backend} libtorch, falling back to the CPU");
        }

        int index = request.Index ?? 0;
        if (!cuda.Available)
        {
            string why = backend == "cpu"
                ? "this build carries the CPU-only libtorch (TorchBackend=cpu); build with -p:TorchBackend=cuda (x64) or use the l4t build (Jetson)"
                : $"libtorch ({backend} build) sees no usable GPU: check the driver (nvidia-smi / tegrastats), CUDA_VISIBLE_DEVICES and the container's GPU runtime";
            throw new DeviceUnavailableException($"Device '{request}' was requested but CUDA is not available: {why}. Set Device=auto or Device=cpu to run on the CPU.");
        }

        if (index >= cuda.DeviceCount)
        {
            throw new DeviceUnavailableException($"Device '{request}' was requested but libtorch sees {cuda.DeviceCount} CUDA device(s) (cuda:0 to cuda:{cuda.DeviceCount - 1}).");
        }

        return new ComputeDevice(DeviceKind.Cuda, index, $"{request} requested");
    }

    /// <summary>Resolves a setting against this process's libtorch.</summary>
    public static ComputeDevice Resolve(string? setting) =>
        Resolve(DeviceRequest.Parse(setting), CudaAvailability.Probe(), TorchBackendInfo.BuildBackend);

    public override string ToString() => IsCuda ? $"cuda:{Index}" : "cpu";
}

/// <summary>Which libtorch this build carries and how the process drives it, for the start-up log.</summary>
public sealed record TorchBackendInfo(string Backend, string LibTorchVersion, int Threads)
{
    /// <summary>The build's TorchBackend property (cpu, cuda or l4t), stamped into the assembly.</summary>
    public static string BuildBackend { get; } = typeof(TorchBackendInfo).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "TorchBackend")?.Value ?? "unknown";

    public static TorchBackendInfo Current()
    {
        TorchRuntime.Initialize();
        return new TorchBackendInfo(BuildBackend, torch.__version__, torch.get_num_threads());
    }
}
