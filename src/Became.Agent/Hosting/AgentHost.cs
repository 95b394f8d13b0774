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
        builder.Services.AddSystemd();
        builder.Services.AddSingleton<AgentHeartbeat>();
        builder.Services.AddHostedService(sp => new SystemdWatchdog(SystemdWatchdogOptions.FromEnvironment(), sp.GetRequiredService<AgentHeartbeat>(), sp.GetRequiredService<ILogger<SystemdWatchdog>>()));
        builder.Services.AddSingleton<IPostConfigureOptions<AgentOptions>, AgentOptionsDefaults>();
        builder.Services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        builder.Services.AddOptions<AgentOptions>().Bind(builder.Configuration).ValidateOnStart();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(builder.Configuration.GetValue("ShutdownSeconds", 20)));

        builder.Services.AddSingleton(sp => new AgentStore(sp.GetRequiredService<IOptions<AgentOptions>>().Value.DataDirectory));
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

        var native = TorchRuntime.Initialize();
        using var host = Build(args);
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("became");
        try
        {
            var options = host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
            logger.LogInformation("{Native}; libtorch threads {Threads}; device {DeviceId}; data {DataDirectory}", native, options.Training.Threads, options.DeviceId, Path.GetFullPath(options.DataDirectory));
        }
        catch (OptionsValidationException e)
        {
            Console.Error.WriteLine($"became run: invalid settings:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", e.Failures)}");
            return 2;
        }

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

        return 0;
    }

    private static readonly string[] SettingRoots =
        ["DeviceId", "DataDirectory", "TopicRoot", "Broker", "Model", "Training", "Limits", "Gate", "HttpUrls", "HttpToken", "ShutdownSeconds", "Demo", "Logging"];

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
