using Became.Agent.Configuration;
using Became.Agent.Jobs;
using Became.Agent.Messaging;
using Became.Agent.Mqtt;
using Became.Agent.Serving;
using Became.Agent.Storage;
using Became.Core.Native;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Hosting;

/// <summary>Builds the agent's host: configuration, validated options, storage, MQTT, the training worker.</summary>
public static class AgentHost
{
    /// <summary>Command-line flags and the configuration keys they set.</summary>
    public static readonly IReadOnlyDictionary<string, string> Switches = new Dictionary<string, string>
    {
        ["--device-id"] = "DeviceId",
        ["--data-dir"] = "DataDirectory",
        ["--broker"] = "BrokerAddress",
        ["--embedded-port"] = "Broker:EmbeddedPort",
        ["--http-urls"] = "HttpUrls",
        ["--demo"] = "Demo:Stream",
        ["--demo-samples"] = "Demo:SamplesPerTask",
        ["--epochs"] = "Training:Epochs",
        ["--method"] = "Training:Method",
        ["--device"] = "Device",
    };

    public static IHost Build(string[] args, Action<IServiceCollection>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddEnvironmentVariables("BECAME__");
        builder.Configuration.AddCommandLine(args, Switches.ToDictionary(kv => kv.Key, kv => kv.Value));
        ApplyBrokerAddress(builder.Configuration);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        // Not AddSystemd(): its lifetime says READY=1 as soon as the host has started, before the broker is up.
        // SystemdReadiness and SystemdWatchdog speak the notify protocol; the default lifetime handles SIGTERM.
        if (SystemdHelpers.IsSystemdService())
        {
            builder.Logging.AddSystemdConsole();
        }

        builder.Services.AddSingleton<AgentHeartbeat>();
        builder.Services.AddHostedService(sp => new SystemdWatchdog(SystemdWatchdogOptions.FromEnvironment(), sp.GetRequiredService<AgentHeartbeat>(), sp.GetRequiredService<ILogger<SystemdWatchdog>>()));
        builder.Services.AddHostedService(sp => new SystemdReadiness(
            SystemdNotifySocket.FromEnvironment(),
            sp.GetRequiredService<IHostApplicationLifetime>(),
            sp,
            sp.GetRequiredService<DeployedModel>(),
            sp.GetRequiredService<ILogger<SystemdReadiness>>()));
        builder.Services.AddSingleton<IPostConfigureOptions<AgentOptions>, AgentOptionsDefaults>();
        builder.Services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        builder.Services.AddOptions<AgentOptions>().Bind(builder.Configuration).ValidateOnStart();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(builder.Configuration.GetValue("ShutdownSeconds", 20)));

        // Resolved once, at start-up: a Device=cuda that cannot be honoured stops the agent with the reason.
        builder.Services.AddSingleton(sp => ComputeDevice.Resolve(sp.GetRequiredService<IOptions<AgentOptions>>().Value.Device));
        builder.Services.AddSingleton(sp => new AgentStore(sp.GetRequiredService<IOptions<AgentOptions>>().Value.DataDirectory, sp.GetService<IStorageFaults>()));
        builder.Services.AddSingleton<DeployedModel>();
        builder.Services.AddSingleton<JobSignal>();
        builder.Services.AddSingleton<BrokerEndpoint>();
        builder.Services.AddSingleton(sp => new MqttConnection(sp.GetRequiredService<BrokerEndpoint>().ConnectionOptions(), sp.GetRequiredService<ILogger<MqttConnection>>()));
        builder.Services.AddSingleton<AgentEvents>();
        builder.Services.AddSingleton<TaskIntake>();
        builder.Services.AddSingleton<TrainingWorker>();
        builder.Services.AddSingleton<InferenceService>();
        builder.Services.AddSingleton<ModelRequests>();

        // Start order: the embedded broker (if any), the connection, then the worker; stop in reverse.
        builder.Services.AddHostedService<MessagingService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TrainingWorker>());
        builder.Services.AddSingleton<HttpApi>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<HttpApi>());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["Demo:Stream"]))
        {
            builder.Services.AddHostedService<DemoFeeder>();
        }

        configure?.Invoke(builder.Services);
        return builder.Build();
    }

    /// <summary>Runs the agent until SIGTERM / Ctrl-C.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        if (UnknownFlag(args) is string unknown)
        {
            Console.Error.WriteLine($"became run: unknown option '{unknown}'. Flags: {string.Join(", ", Switches.Keys)}; any setting as --Section:Key=value.");
            return 2;
        }

        TorchNativeStatus native;
        try
        {
            native = TorchRuntime.Initialize();
        }
        catch (Exception e) when (TorchRuntime.IsLoadFailure(e))
        {
            Console.Error.WriteLine($"became run: {TorchRuntime.DescribeLoadFailure(e, TorchBackendInfo.BuildBackend)}");
            return 3;
        }

        using var host = Build(args);
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("became");
        try
        {
            var options = host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
            var device = host.Services.GetRequiredService<ComputeDevice>();
            var backend = TorchBackendInfo.Current();
            logger.LogInformation(
                "Torch backend {Backend}, libtorch {LibTorch}, device {Device} ({DeviceReason}), {Threads} threads; {Native}; agent {DeviceId}, data {DataDirectory}",
                backend.Backend, backend.LibTorchVersion, device, device.Reason, options.Training.Threads, native, options.DeviceId, Path.GetFullPath(options.DataDirectory));
        }
        catch (OptionsValidationException e)
        {
            Console.Error.WriteLine($"became run: invalid settings:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", e.Failures)}");
            return 2;
        }
        catch (DeviceUnavailableException e)
        {
            logger.LogCritical("{Reason}", e.Message);
            Console.Error.WriteLine($"became run: {e.Message}");
            return 2;
        }

        var worker = host.Services.GetRequiredService<TrainingWorker>();
        try
        {
            await host.RunAsync().ConfigureAwait(false);
        }
        catch (MqttConnectionRefusedException e)
        {
            // Logged by MessagingService; a distinct exit code lets systemd stop instead of restarting into the same refusal.
            Console.Error.WriteLine($"became run: {e.Message} Check {BrokerRefusal.Settings(e.Reason)}.");
            return BrokerRefusal.ExitCode;
        }

        // A worker that threw stops the host as if asked to (the host has logged why); exit non-zero so that
        // Restart=on-failure starts the agent again. RunAsync has disposed the host's services by now.
        if (worker.ExecuteTask is { IsFaulted: true })
        {
            Console.Error.WriteLine("became run: the training worker failed (see the log above); exiting with status 1");
            return 1;
        }

        return 0;
    }

    private static readonly string[] SettingRoots =
        ["DeviceId", "Device", "DataDirectory", "TopicRoot", "Broker", "Model", "Training", "Limits", "Jobs", "Gate", "HttpUrls", "HttpToken", "ShutdownSeconds", "Demo", "Logging"];

    /// <summary>The first flag that neither is a known switch nor names a setting (a typo would otherwise be ignored).</summary>
    internal static string? UnknownFlag(IReadOnlyList<string> args)
    {
        foreach (string arg in args.Where(a => a.StartsWith("--", StringComparison.Ordinal)))
        {
            string key = arg.Split('=', 2)[0];
            string root = key[2..].Split(':', 2)[0];
            if (!Switches.ContainsKey(key) && !SettingRoots.Contains(root, StringComparer.OrdinalIgnoreCase))
            {
                return arg;
            }
        }

        return null;
    }

    // --broker HOST:PORT is one flag for two settings.
    private static void ApplyBrokerAddress(ConfigurationManager configuration)
    {
        string? address = configuration["BrokerAddress"];
        if (string.IsNullOrWhiteSpace(address))
        {
            return;
        }

        var (host, port) = BrokerAddress.Split(address);
        var values = new Dictionary<string, string?> { ["Broker:Host"] = host };
        if (port is not null)
        {
            values["Broker:Port"] = port;
        }

        configuration.AddInMemoryCollection(values);
    }
}
