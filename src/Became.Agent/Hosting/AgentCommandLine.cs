using System.CommandLine;
using System.Globalization;
using Became.Core.Native;
using Became.Core.Training;

namespace Became.Agent.Hosting;

/// <summary>
/// <c>became run</c>'s command line: named flags for the common settings, and any setting as
/// <c>--Section:Key=value</c> (or <c>--Section:Key value</c>); the flags become those settings, and
/// <see cref="AgentHost.RunAsync"/> rejects keys no setting reads.
/// </summary>
public static class AgentCommandLine
{
    public static Command Create()
    {
        var deviceId = new Option<string>("--device-id") { Description = "this agent's name in its topics (DeviceId)", HelpName = "ID" };
        var dataDir = new Option<string>("--data-dir") { Description = "folder of the state (DataDirectory); one agent per folder", HelpName = "DIR" };
        var broker = CommonOptions.Broker("an external MQTT broker (Broker:Host, Broker:Port); none = the embedded broker");
        var embeddedPort = new Option<int>("--embedded-port") { Description = "port of the embedded broker on 127.0.0.1 (Broker:EmbeddedPort; 0 = any free one)", HelpName = "PORT" };
        embeddedPort.Validators.Add(r =>
        {
            if (CommonOptions.TryGet(r, out int port) && port is < 0 or > 65535)
            {
                r.AddError($"--embedded-port: '{r.Tokens[0].Value}' is not a TCP port (0 picks a free one)");
            }
        });
        var httpUrls = new Option<string>("--http-urls") { Description = "HTTP endpoints, e.g. http://127.0.0.1:8080 (HttpUrls; ';' between several)", HelpName = "URLS" };
        var demo = new Option<string>("--demo") { Description = "feed the agent a benchmark stream over MQTT (Demo:Stream)", HelpName = "STREAM" }.AcceptOnlyFromAmong("split-fmnist");
        var demoSamples = new Option<int>("--demo-samples") { Description = "training images per demo task (Demo:SamplesPerTask)", HelpName = "N" }.AtLeast(1);
        var epochs = new Option<int>("--epochs") { Description = "epochs per training stage (Training:Epochs)", HelpName = "N" }.AtLeast(1);
        var method = new Option<string>("--method") { Description = "continual-learning method: became, gpm, fixed or finetune (Training:Method)", HelpName = "METHOD" };

        // Validators run only when the option is given: building the command line touches nothing of Became.Core
        // (whose first use loads libtorch), so --help and --version stay fast and work without it.
        method.Validators.Add(r => CheckMethod(r));
        var device = new Option<string>("--device") { Description = "where tensors live: auto, cpu, cuda or cuda:N (Device)", HelpName = "DEVICE" };
        device.Validators.Add(r => CheckDevice(r));

        var command = new Command("run", "the agent: MQTT task intake, training, the deployed model served over MQTT and HTTP, state in LiteDB. Any setting may be given as --Section:Key=value (see the README).")
        {
            deviceId, dataDir, broker, embeddedPort, httpUrls, demo, demoSamples, epochs, method, device,
        };

        // The settings (--Training:BatchSize=20) are not options of this command: they pass through to the configuration.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var settings = new List<string>();
            void Add<T>(Option<T> option, string key)
            {
                if (parsed.GetResult(option) is { Implicit: false } && parsed.GetValue(option) is T value)
                {
                    settings.Add(string.Create(CultureInfo.InvariantCulture, $"--{key}={value}"));
                }
            }

            Add(deviceId, "DeviceId");
            Add(dataDir, "DataDirectory");
            Add(broker, "BrokerAddress");
            Add(embeddedPort, "Broker:EmbeddedPort");
            Add(httpUrls, "HttpUrls");
            Add(demo, "Demo:Stream");
            Add(demoSamples, "Demo:SamplesPerTask");
            Add(epochs, "Training:Epochs");
            Add(method, "Training:Method");
            Add(device, "Device");
            settings.AddRange(parsed.UnmatchedTokens);
            return await AgentHost.RunAsync([.. settings], parsed.InvocationConfiguration.Error).ConfigureAwait(false);
        });
        return command;
    }

    private static void CheckMethod(System.CommandLine.Parsing.OptionResult result)
    {
        string? value = result.GetValueOrDefault<string>();
        var names = ContinualMethod.All.Select(m => m.Name).ToList();
        if (value is not null && !names.Contains(value))
        {
            result.AddError($"--method: '{value}' is not one of {string.Join(", ", names)}{Suggestions.Hint(value, names)}");
        }
    }

    private static void CheckDevice(System.CommandLine.Parsing.OptionResult result)
    {
        string? value = result.GetValueOrDefault<string>();
        if (value is not null && !DeviceRequest.TryParse(value, out _))
        {
            result.AddError($"--device: '{value}' is not one of auto, cpu, cuda, cuda:N");
        }
    }
}
