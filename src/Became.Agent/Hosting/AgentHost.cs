using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Intake;
using Became.Agent.Jobs;
using Became.Agent.Messaging;
using Became.Agent.Mqtt;
using Became.Agent.Observability;
using Became.Agent.Protocol;
using Became.Agent.Serving;
using Became.Agent.Storage;
using Became.Core.Native;
using Became.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
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
        ["--device"] = "Device",
    };

    /// <summary>The agent's host: a web application (Kestrel in the agent's own container, started after the agent's
    /// services) when HttpUrls is set, a plain host without any web server otherwise.</summary>
    public static IHost Build(string[] args, Action<IServiceCollection>? configure = null)
    {
        var plain = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
        });
        AddSettings(plain.Configuration, args);
        WebApplicationBuilder? web = null;
        if (HttpApi.IsEnabled(plain.Configuration))
        {
            // The same settings, read by the builder that serves them (the plain one only answered whether to).
            ((IDisposable)plain.Configuration).Dispose();
            web = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
            AddSettings(web.Configuration, args);
            HttpApi.ConfigureServer(web);
        }

        IHostApplicationBuilder builder = web ?? (IHostApplicationBuilder)plain;
        // Not AddSystemd(): its lifetime says READY=1 as soon as the host has started, before the broker is up.
        // SystemdReadiness and SystemdWatchdog speak the notify protocol; the default lifetime handles SIGTERM;
        // ConsoleLogging picks journald's format under systemd.
        ConsoleLogging.Configure(builder.Logging, builder.Configuration);

        builder.Services.AddSingleton<AgentHeartbeat>();
        builder.Services.AddHostedService(sp => new SystemdWatchdog(SystemdWatchdogOptions.FromEnvironment(), sp.GetRequiredService<AgentHeartbeat>(), sp.GetRequiredService<ILogger<SystemdWatchdog>>()));
        builder.Services.AddHostedService(sp => new SystemdReadiness(
            SystemdNotifySocket.FromEnvironment(),
            sp.GetRequiredService<IHostApplicationLifetime>(),
            sp.GetRequiredService<MqttConnection>(),
            sp.GetRequiredService<DeployedModel>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<SystemdReadiness>>()));
        builder.Services.AddSingleton<IPostConfigureOptions<AgentOptions>, AgentOptionsDefaults>();
        builder.Services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        builder.Services.AddOptions<AgentOptions>().Bind(builder.Configuration).ValidateOnStart();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(builder.Configuration.GetValue("ShutdownSeconds", 20)));

        // Resolved once, at start-up: a Device=cuda that cannot be honoured stops the agent with the reason.
        builder.Services.AddSingleton(sp => ComputeDevice.Resolve(sp.GetRequiredService<IOptions<AgentOptions>>().Value.Device));
        builder.Services.AddSingleton(sp => new AgentStore(sp.GetRequiredService<IOptions<AgentOptions>>().Value.DataDirectory, sp.GetRequiredService<IStorageFaults>()));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<DeployedModel>();
        builder.Services.AddSingleton<DeviceStatus>();
        builder.Services.AddSingleton<ServedModelLoader>();
        builder.Services.AddSingleton<StartupDeployment>();
        builder.Services.AddSingleton<DeploymentQueue>();
        builder.Services.AddSingleton<VersionRollback>();
        builder.Services.AddSingleton<HeldOutEvaluation>();
        builder.Services.AddSingleton<VersionCommitter>();
        builder.Services.AddSingleton<JobSignal>();
        builder.Services.AddSingleton<BrokerEndpoint>();
        builder.Services.AddSingleton(sp => new MqttConnection(sp.GetRequiredService<BrokerEndpoint>().ConnectionOptions(), sp.GetRequiredService<ILogger<MqttConnection>>()));
        builder.Services.AddSingleton<IMqttReplies>(sp => sp.GetRequiredService<MqttConnection>());
        builder.Services.AddSingleton<EventFeed>();
        builder.Services.AddSingleton<AgentEvents>();
        builder.Services.AddSingleton<IAgentEvents>(sp => sp.GetRequiredService<AgentEvents>());
        builder.Services.AddSingleton(TaskPayloadFormats.Default);
        builder.Services.AddSingleton<TaskIntake>();
        builder.Services.AddSingleton<RetrySchedule>();
        builder.Services.AddSingleton<TaskTrainer>();
        builder.Services.AddSingleton<JobRunner>();
        builder.Services.AddSingleton<TrainingWorker>();
        builder.Services.AddSingleton<InferenceService>();
        builder.Services.AddSingleton<IModelExporter, SafetensorsExporter>();
        builder.Services.AddSingleton<ModelExporters>();
        builder.Services.AddSingleton<ModelPulls>();
        builder.Services.AddSingleton<ModelRequests>();
        AgentTelemetry.Add(builder.Services);
        builder.Services.AddSingleton(sp => new MqttRequester(sp.GetRequiredService<BrokerEndpoint>().ConnectionOptions()));
        builder.Services.AddSingleton<IModelAdoption, Adoption.ModelAdoption>();

        // Start order: the embedded broker (if any), the connection, then the worker; stop in reverse.
        builder.Services.AddHostedService<MessagingService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TrainingWorker>());
        builder.Services.AddSingleton<StatusPage>();
        if (web is not null)
        {
            builder.Services.AddSingleton<AgentWebApplication>();
            builder.Services.AddSingleton<HttpApi>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<HttpApi>());
        }
        if (!string.IsNullOrWhiteSpace(builder.Configuration["Demo:Stream"]))
        {
            builder.Services.AddHostedService<DemoFeeder>();
        }

        // The test harness's seams (injected storage faults, held job points) are registered by it alone; the agent has none.
        configure?.Invoke(builder.Services);
        builder.Services.TryAddSingleton<IStorageFaults>(NoStorageFaults.Instance);
        builder.Services.TryAddSingleton<IJobCheckpoints>(NoCheckpoints.Instance);
        if (web is null)
        {
            return plain.Build();
        }

        var app = web.Build();

        // Only the application itself here: resolving HttpApi would open the store and check the settings before
        // RunAsync can report a problem with one line; it maps its endpoints as the host starts.
        app.Services.GetRequiredService<AgentWebApplication>().App = app;
        return app;
    }

    /// <summary>Runs the agent until SIGTERM / Ctrl-C; a user's mistake (unknown or invalid setting, taken port, data
    /// directory in use) is one line on <paramref name="error"/> (stderr by default) and <see cref="ExitCodes.Usage"/>.</summary>
    /// <param name="args">Settings as <c>--Section:Key=value</c> or <c>--Section:Key value</c>, and the <see cref="Switches"/>.</param>
    /// <param name="error">Where the one-line reason of a failed start goes.</param>
    /// <param name="configure">Extra services (the test harness's seams; the agent registers none).</param>
    public static async Task<int> RunAsync(string[] args, TextWriter? error = null, Action<IServiceCollection>? configure = null)
    {
        error ??= Console.Error;
        if (SettingKeys.FindUnknown(args, Switches, AppContext.BaseDirectory) is { } unknown)
        {
            await error.WriteLineAsync($"became run: {unknown}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        TorchNativeStatus native;
        try
        {
            native = TorchRuntime.Initialize();
        }
        catch (Exception e) when (TorchRuntime.IsLoadFailure(e))
        {
            await error.WriteLineAsync($"became run: {TorchRuntime.DescribeLoadFailure(e, TorchBackendInfo.BuildBackend)}").ConfigureAwait(false);
            return ExitCodes.TorchUnavailable;
        }

        using var host = Build(args, configure);
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("became");
        try
        {
            if (ConsoleLogging.Validate(host.Services.GetRequiredService<IConfiguration>()) is string badFormat)
            {
                await error.WriteLineAsync($"became run: invalid settings: {badFormat}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            var options = host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
            var device = host.Services.GetRequiredService<ComputeDevice>();

            // The data directory's lock before anything starts: a second agent on it stops here, touching nothing.
            host.Services.GetRequiredService<AgentStore>();
            var backend = TorchBackendInfo.Current();
            logger.LogInformation(
                "Torch backend {Backend}, libtorch {LibTorch}, device {Device} ({DeviceReason}), {Threads} threads; agent {DeviceId}, data {DataDirectory}",
                backend.Backend, backend.LibTorchVersion, device, device.Reason, options.Training.Threads, options.DeviceId, Path.GetFullPath(options.DataDirectory));
            logger.LogDebug("Native libraries: {Native}", native);
        }
        catch (OptionsValidationException e)
        {
            await error.WriteLineAsync($"became run: invalid settings: {string.Join("; ", e.Failures)}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (InvalidOperationException e) when (e.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
        {
            // The binder's own words name the key and the value: "Failed to convert configuration value 'many' at 'Training:Epochs' to type 'System.Int32'."
            await error.WriteLineAsync($"became run: invalid settings: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (DeviceUnavailableException e)
        {
            logger.LogCritical("{Reason}", e.Message);
            await error.WriteLineAsync($"became run: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (DataDirectoryLockedException e)
        {
            logger.LogCritical("{Reason}", e.Message);
            await error.WriteLineAsync($"became run: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        if (TakenHttpAddress(host.Services.GetRequiredService<IOptions<AgentOptions>>().Value.HttpUrls) is string taken)
        {
            // Checked before anything starts, so nothing does; the bind itself below still catches a port taken meanwhile.
            await error.WriteLineAsync($"became run: Failed to bind to address {taken}: address already in use; choose another address with --http-urls (HttpUrls)").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        var worker = host.Services.GetRequiredService<TrainingWorker>();
        try
        {
            await host.StartAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Stop what did start (broker, connection, worker) the clean way, instead of leaving it to disposal.
            await StopAfterFailedStartAsync(host, logger).ConfigureAwait(false);
            await ((IAsyncDisposable)host).DisposeAsync().ConfigureAwait(false);
            switch (e)
            {
                case MqttConnectionRefusedException refused:
                    // Logged by MessagingService; a distinct exit code lets systemd stop instead of restarting into the same refusal.
                    await error.WriteLineAsync($"became run: {refused.Message} Check {BrokerRefusal.Settings(refused.Reason)}.").ConfigureAwait(false);
                    return BrokerRefusal.ExitCode;
                case PortInUseException port:
                    await error.WriteLineAsync($"became run: {port.Message}").ConfigureAwait(false);
                    return ExitCodes.Usage;
                case IOException io when IsHttpBindFailure(io):
                    // Kestrel's "Failed to bind to address http://127.0.0.1:8080: address already in use." (or permission denied).
                    await error.WriteLineAsync($"became run: {io.Message.TrimEnd('.')}; choose another address with --http-urls (HttpUrls)").ConfigureAwait(false);
                    return ExitCodes.Usage;
                default:
                    throw;
            }
        }

        await host.WaitForShutdownAsync().ConfigureAwait(false);

        // As host.RunAsync does: some services (the broker endpoint, HTTP) only dispose asynchronously.
        await ((IAsyncDisposable)host).DisposeAsync().ConfigureAwait(false);

        // A worker that threw stops the host as if asked to (the host has logged why); exit non-zero so that
        // Restart=on-failure starts the agent again. WaitForShutdownAsync has stopped the host's services by now.
        if (worker.ExecuteTask is { IsFaulted: true })
        {
            await error.WriteLineAsync("became run: the training worker failed (see the log above); exiting with status 1").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        return ExitCodes.Ok;
    }

    /// <summary>The first flag that neither is a known switch nor names a setting (a typo would otherwise be ignored).</summary>
    internal static string? UnknownFlag(IReadOnlyList<string> args) => SettingKeys.FindUnknown(args, Switches, AppContext.BaseDirectory)?.Key;

    private static async Task StopAfterFailedStartAsync(IHost host, ILogger logger)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(host.Services.GetRequiredService<IOptions<AgentOptions>>().Value.ShutdownSeconds));
            await host.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Stopping after the failed start: {Message}", e.Message);
        }
    }

    /// <summary>The first of the HTTP addresses whose port another socket listens on (numeric and localhost hosts only).</summary>
    internal static string? TakenHttpAddress(string? httpUrls)
    {
        foreach (string url in (httpUrls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string checkable = url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
            if (!Uri.TryCreate(checkable, UriKind.Absolute, out var uri) || uri.Port <= 0)
            {
                continue;
            }

            var address = uri.IsLoopback && !System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out _)
                ? System.Net.IPAddress.Loopback
                : System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var parsed) ? parsed : null;
            if (address is null)
            {
                continue;
            }

            try
            {
                // Bound as Kestrel binds (SO_REUSEADDR, no SO_REUSEPORT) and closed at once.
                using var probe = new System.Net.Sockets.Socket(address.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                probe.Bind(new System.Net.IPEndPoint(address, uri.Port));
                probe.Listen(1);
            }
            catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
            {
                return url;
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Another problem (no such address, permission): Kestrel's own bind reports it.
            }
        }

        return null;
    }

    private static bool IsHttpBindFailure(IOException e) =>
        e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException or System.Net.Sockets.SocketException
        && e.Message.StartsWith("Failed to bind to address", StringComparison.Ordinal);

    // The agent's own settings over the host's defaults: BECAME__ variables, then the command line.
    private static void AddSettings(ConfigurationManager configuration, string[] args)
    {
        configuration.AddEnvironmentVariables("BECAME__");
        configuration.AddCommandLine(args, Switches.ToDictionary(kv => kv.Key, kv => kv.Value));
        ApplyBrokerAddress(configuration);
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
