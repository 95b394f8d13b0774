using System.Text.Json;
using Became.Agent.Hosting;
using Became.Core.Data;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace Became.Cli.Tests.Tools;

/// <summary>The operator's MQTT commands on a secured fleet broker (deploy/fleet's ACL and password recipe on a real
/// mosquitto): with <c>--username</c>/<c>--password</c> (or BECAME_BROKER_PASSWORD) they publish, watch, pull and
/// benchmark; without credentials or with a wrong password each is one line naming the broker, exit 1.</summary>
[Trait("Speed", "Slow")]
public sealed partial class BrokerCredentialsTests(BrokerCredentialsTests.SecuredFleet fleet) : IClassFixture<BrokerCredentialsTests.SecuredFleet>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(300);

    public static TheoryData<string> Commands => ["publish", "pull", "infer", "status", "adopt", "bench-infer", "fleet status"];

    [Fact]
    public async Task An_operator_account_publishes_watches_pulls_and_benchmarks_a_device_on_a_secured_broker()
    {
        string[] login = ["--username", "op", "--password", SecuredFleet.OperatorPassword];
        string[] device = ["--broker", fleet.Broker, "--device", SecuredFleet.Device];

        // The device is up (its retained status) before the task goes out.
        var idle = await CommandLineTests.RunAsync(["status", .. device, .. login, "--timeout", "180"]);
        Assert.True(idle.Code == 0, idle.Error);

        // The real process, with the password only in its environment (out of the process list).
        var published = await BecameCommand.RunProcessAsync(
            ["publish", .. device, "--username", "op", "--file", fleet.TaskFile, "--task-id", "t0", "--wait", "deployed", "--timeout", "280"],
            new Dictionary<string, string> { [BrokerLoginOptions.PasswordVariable] = SecuredFleet.OperatorPassword },
            Patience);
        Assert.True(published.Code == 0, $"exit {published.Code}\n{published.Output}\n{published.Error}");
        Assert.Contains("deployed t0 as model version 1", published.Output, StringComparison.Ordinal);

        await Eventually.ValueAsync(() => CommandLineTests.RunAsync(["status", .. device, .. login, "--json"]), s => s.Code == 0 && VersionOne().IsMatch(s.Output), "became status shows version 1", Patience);

        string model = Path.Combine(fleet.Directory, "model.safetensors");
        var pulled = await CommandLineTests.RunAsync(["pull", .. device, .. login, "-o", model]);
        Assert.True(pulled.Code == 0, pulled.Error);
        Assert.Contains("model version 1", pulled.Output, StringComparison.Ordinal);
        Assert.True(new FileInfo(model).Length > 0);

        // The replies come on became/dev-a/replies/cli-..., the only place the fleet ACL lets the device answer.
        var bench = await CommandLineTests.RunAsync(["bench-infer", .. device, .. login, "--request", fleet.InferFile, "--rate", "5", "--seconds", "1"]);
        Assert.True(bench.Code == 0, $"{bench.Output}\n{bench.Error}");
        Assert.Contains(" 0 failed", bench.Output, StringComparison.Ordinal);

        var listed = await CommandLineTests.RunAsync(["fleet", "status", "--broker", fleet.Broker, .. login]);
        Assert.True(listed.Code == 0, listed.Error);
        Assert.Contains(SecuredFleet.Device, listed.Output, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Without_credentials_the_broker_refusal_is_one_line_naming_the_broker_and_exit_1(string command)
    {
        var result = await CommandLineTests.RunAsync(Arguments(command));

        AssertRefused(result, $"the broker {fleet.Broker} refused a connection without credentials", "--username");
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task A_wrong_password_is_one_line_saying_the_credentials_were_refused_and_exit_1(string command)
    {
        var result = await CommandLineTests.RunAsync([.. Arguments(command), "--username", "op", "--password", "wrong"]);

        AssertRefused(result, $"the broker {fleet.Broker} refused the credentials of user 'op'");
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task A_password_without_a_username_is_a_usage_error(string command)
    {
        BecameCommand.AssertUsageError(await CommandLineTests.RunAsync([.. Arguments(command), "--password", "secret"]), "--password needs --username");
    }

    private static void AssertRefused((int Code, string Output, string Error) result, params string[] fragments) =>
        BecameCommand.AssertOneLineError(result, 1, fragments);

    [System.Text.RegularExpressions.GeneratedRegex("\"deployedVersion\"\\s*:\\s*1\\b")]
    private static partial System.Text.RegularExpressions.Regex VersionOne();

    private string[] Arguments(string command)
    {
        string[] device = ["--broker", fleet.Broker, "--device", SecuredFleet.Device];
        return command switch
        {
            "publish" => ["publish", .. device, "--file", fleet.TaskFile, "--task-id", "refused"],
            "pull" => ["pull", .. device, "-o", Path.Combine(fleet.Directory, "refused.safetensors")],
            "infer" => ["infer", .. device, "--request", fleet.InferFile],
            "status" => ["status", .. device],
            "adopt" => ["adopt", .. device, "--from", "dev-b"],
            "bench-infer" => ["bench-infer", .. device, "--request", fleet.InferFile, "--seconds", "1"],
            "fleet status" => ["fleet", "status", "--broker", fleet.Broker],
            _ => throw new ArgumentOutOfRangeException(nameof(command)),
        };
    }

    /// <summary>One mosquitto with deploy/fleet's ACL and passwd (device dev-a, operator op) and the dev-a agent on it,
    /// shared by the class: an agent start costs minutes on a loaded machine.</summary>
    public sealed class SecuredFleet : IAsyncLifetime
    {
        public const string Device = "dev-a";
        public const string OperatorPassword = "secret-op";
        private static readonly string FleetDeploy = Path.Combine(ToolProcess.RepositoryRoot, "deploy", "fleet");
        private ITestBroker? _broker;
        private IHost? _agent;

        public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("became-credentials-").FullName;

        public string Broker => $"127.0.0.1:{_broker!.Port}";

        public string TaskFile => Path.Combine(Directory, "t0.safetensors");

        public string InferFile => Path.Combine(Directory, "request.json");

        public async Task InitializeAsync()
        {
            File.Copy(Path.Combine(FleetDeploy, "acl"), Path.Combine(Directory, "acl"));
            await AddAsync("add-device.sh", "DEVICE_PASSWORD", "secret-a", Device, "line-1");
            await AddAsync("add-operator.sh", "OPERATOR_PASSWORD", OperatorPassword, "op");
            _broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance, $"""
                allow_anonymous false
                password_file {Directory}/passwd
                acl_file {Directory}/acl
                """);
            await File.WriteAllBytesAsync(TaskFile, AgentHarness.SplitTask(0, 100));
            var image = ImageClassificationDataset.Load().Test.Image(0).ToArray().Select(b => b / 255f).ToArray();
            await File.WriteAllBytesAsync(InferFile, JsonSerializer.SerializeToUtf8Bytes(new { taskId = "t0", inputs = new[] { image } }));
            _agent = AgentHost.Build(
            [
                $"--DeviceId={Device}",
                $"--DataDirectory={Path.Combine(Directory, Device)}",
                "--Broker:Host=127.0.0.1",
                $"--Broker:Port={_broker.Port}",
                $"--Broker:Username={Device}",
                "--Broker:Password=secret-a",
                "--Training:Epochs=1",
                "--Training:Threads=1",
                "--ShutdownSeconds=10",
            ]);
            await _agent.StartAsync();
        }

        public async Task DisposeAsync()
        {
            if (_agent is not null)
            {
                await _agent.StopAsync();
                _agent.Dispose();
            }

            if (_broker is not null)
            {
                await _broker.DisposeAsync();
            }

            System.IO.Directory.Delete(Directory, recursive: true);
        }

        private async Task AddAsync(string script, string passwordVariable, string password, params string[] args)
        {
            var result = await ToolProcess.RunAsync("sh", [Path.Combine(FleetDeploy, script), .. args], TimeSpan.FromSeconds(60), new Dictionary<string, string?>
            {
                ["PASSWD_FILE"] = Path.Combine(Directory, "passwd"),
                ["ACL_FILE"] = Path.Combine(Directory, "acl"),
                [passwordVariable] = password,
            });
            Assert.True(result.ExitCode == 0, $"{script} {string.Join(' ', args)}: {result.Describe()}");
        }
    }
}
