using System.Net;
using System.Net.Sockets;
using Became.Cli;
using static Became.Testing.BecameCommand;

namespace Became.Cli.Tests;

/// <summary>The `became` command line: typos and bad values are one line naming the option (and the nearest valid
/// one) with exit 2, never a stack trace; help and version work for every command.</summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("became-cli-").FullName;

    /// <summary>Runs the command line in this process, as Program does.</summary>
    internal static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await BecameCli.RunAsync(args, output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData(new[] { "run", "--epochs", "many" }, new[] { "--epochs", "'many'", "integer" })]
    [InlineData(new[] { "run", "--Training:Epochs=many" }, new[] { "Training:Epochs", "'many'" })]
    [InlineData(new[] { "run", "--embedded-port", "70000" }, new[] { "--embedded-port", "70000" })]
    [InlineData(new[] { "run", "--method", "gmp" }, new[] { "--method", "gmp", "gpm" })]
    [InlineData(new[] { "pull", "--version", "two", "-o", "model.safetensors", "--http", "http://127.0.0.1:1" }, new[] { "--version", "'two'", "integer" })]
    [InlineData(new[] { "pull", "--http", "127.0.0.1:8080", "-o", "model.safetensors" }, new[] { "--http", "127.0.0.1:8080", "http://" })]
    [InlineData(new[] { "bench-infer", "--rate", "abc", "--http", "http://127.0.0.1:1", "--task", "t" }, new[] { "--rate", "'abc'", "number" })]
    [InlineData(new[] { "bench-infer", "--rate", "0", "--http", "http://127.0.0.1:1", "--task", "t" }, new[] { "--rate", "positive" })]
    [InlineData(new[] { "bench", "--epochs", "x" }, new[] { "--epochs", "'x'" })]
    [InlineData(new[] { "publish", "--broker", "host:port", "--device", "d", "--stream", "split-fmnist" }, new[] { "--broker", "host:port" })]
    public async Task Bad_values_are_one_line_naming_the_option_and_exit_2(string[] args, string[] fragments)
    {
        AssertUsageError(await RunAsync(args), fragments);
    }

    [Theory]
    [InlineData(new[] { "pull", "--versoin", "2", "-o", "model.safetensors" }, "'--versoin'", "'--version'")]
    [InlineData(new[] { "publish", "--sample", "10", "--broker", "127.0.0.1:1", "--device", "d", "--stream", "split-fmnist" }, "'--sample'", "'--samples'")]
    [InlineData(new[] { "run", "--Training:Epocs=3" }, "'--Training:Epocs'", "'--Training:Epochs'")]
    [InlineData(new[] { "run", "--training:epocs", "3" }, "'--training:epocs'", "'--Training:Epochs'")]
    [InlineData(new[] { "run", "--epocs", "3" }, "'--epocs'", "'--epochs'")]
    [InlineData(new[] { "run", "--devise-id", "x" }, "'--devise-id'", "'--device-id'")]
    [InlineData(new[] { "infer", "--reqest", "r.json", "--http", "http://127.0.0.1:1" }, "'--reqest'", "'--request'")]
    [InlineData(new[] { "bench", "--seed", "0" }, "'--seed'", "'--seeds'")]
    [InlineData(new[] { "bench-infer", "--rates", "5" }, "'--rates'", "'--rate'")]
    [InlineData(new[] { "pubish" }, "'pubish'", "'publish'")]
    public async Task Misspelled_options_are_errors_naming_the_nearest_valid_one(string[] args, string typed, string suggested)
    {
        AssertUsageError(await RunAsync(args), typed, "did you mean", suggested);
    }

    [Fact]
    public async Task Settings_are_taken_as_Section_Key_value_with_a_space_too()
    {
        // Reaches the settings (and their validation) like --Training:Epochs=0 would.
        AssertUsageError(await RunAsync("run", "--data-dir", _data, "--embedded-port", "0", "--Training:Epochs", "0"), "Training:Epochs must be at least 1");
    }

    [Fact]
    public async Task A_stray_argument_of_run_is_an_error()
    {
        AssertUsageError(await RunAsync("run", "--data-dir", _data, "model.safetensors"), "unexpected argument 'model.safetensors'");
    }

    [Fact]
    public async Task Http_urls_without_a_scheme_are_refused_naming_the_setting()
    {
        AssertUsageError(await RunAsync("run", "--data-dir", _data, "--embedded-port", "0", "--http-urls", "127.0.0.1:8080"), "HttpUrls '127.0.0.1:8080'", "http://");
        Assert.Empty(Directory.EnumerateFileSystemEntries(_data));
    }

    [Fact]
    public async Task A_taken_http_port_is_one_line_naming_the_address_and_the_option()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        int port = ((IPEndPoint)holder.LocalEndpoint).Port;

        AssertUsageError(await RunAsync("run", "--data-dir", _data, "--embedded-port", "0", "--http-urls", $"http://127.0.0.1:{port}"), $"127.0.0.1:{port}", "--http-urls");
    }

    [Fact]
    public async Task A_taken_broker_port_is_one_line_naming_the_port_and_the_option()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        int port = ((IPEndPoint)holder.LocalEndpoint).Port;

        AssertUsageError(await RunAsync("run", "--data-dir", _data, "--embedded-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)), $"port {port}", "--embedded-port");
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("run", "--help")]
    [InlineData("publish", "--help")]
    [InlineData("pull", "--help")]
    [InlineData("infer", "-h")]
    [InlineData("bench", "--help")]
    [InlineData("bench-infer", "--help")]
    public async Task Every_command_has_help(params string[] args)
    {
        var (code, output, error) = await RunAsync(args);
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Equal("", error);
    }

    [Fact]
    public async Task Version_names_the_build_and_the_libtorch_backend()
    {
        var (code, output, _) = await RunAsync("--version");
        Assert.Equal(0, code);
        Assert.Matches(@"^became \S+ \(libtorch backend: (cpu|cuda|l4t)\)", output);
    }

    [Fact]
    public async Task No_command_is_a_usage_error_listing_the_commands()
    {
        AssertUsageError(await RunAsync(), "run", "publish", "bench-infer");
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public async Task Typo_in_the_real_process_is_one_line_and_exit_2_not_an_abort()
    {
        var result = await RunProcessAsync(["run", "--epochs", "many"]);
        AssertUsageError(result, "--epochs", "'many'");
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public async Task Misspelled_BECAME_environment_variable_is_refused_with_the_nearest_one()
    {
        // Only BECAME__* variables are checked: the host's unprefixed copy of every variable (PATH, HOME...) is not.
        var result = await RunProcessAsync(["run", "--data-dir", _data, "--embedded-port", "0"], new Dictionary<string, string> { ["BECAME__TRAINING__EPOCS"] = "3" });
        AssertUsageError(result, "BECAME__TRAINING__EPOCS", "BECAME__TRAINING__EPOCHS");
    }

    public void Dispose() => Directory.Delete(_data, recursive: true);
}
