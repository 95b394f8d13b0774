using Became.Agent.Configuration;
using Became.Agent.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Became.Agent.Tests.Configuration;

public sealed class AgentOptionsTests
{
    private static AgentOptions Resolve(params string[] args)
    {
        using var host = AgentHost.Build(args);
        return host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
    }

    [Fact]
    public void Command_line_flags_set_the_documented_settings()
    {
        var options = Resolve("--device-id", "cam-7", "--data-dir", "/tmp/x", "--broker", "10.1.2.3:8883", "--epochs", "3");

        Assert.Equal("cam-7", options.DeviceId);
        Assert.Equal("/tmp/x", options.DataDirectory);
        Assert.Equal("10.1.2.3", options.Broker.Host);
        Assert.Equal(8883, options.Broker.Port);
        Assert.Equal(3, options.Training.Epochs);
        Assert.Equal("became/cam-7/tasks/#", options.Topic("tasks/#"));
    }

    [Fact]
    public void List_settings_replace_the_defaults_instead_of_extending_them()
    {
        var options = Resolve("--Model:HiddenSizes:0=50", "--Model:HiddenSizes:1=20", "--Training:Thresholds:0=0.9");

        Assert.Equal([50, 20], options.Model.HiddenSizes);
        Assert.Equal([0.9], options.Training.Thresholds);
    }

    [Fact]
    public void Invalid_settings_fail_at_start_up_with_messages_naming_them()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Resolve("--Training:Epochs=0", "--Training:Method=magic", "--Broker:Port=70000"));

        Assert.Contains(error.Failures, f => f.Contains("Training:Epochs", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Training:Method", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Broker:Port", StringComparison.Ordinal));
    }

    [Fact]
    public void Task_features_are_body_by_default_and_an_unknown_kind_fails_at_start_up()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Resolve("--Training:TaskFeatures=pixels"));

        Assert.Equal(0, Resolve().Training.ToLearnerOptions(Resolve().Model).TaskFeatures.ExpansionWidth);
        Assert.Equal(500, Resolve("--Training:TaskFeatures=input:500").Training.ToLearnerOptions(Resolve().Model).TaskFeatures.ExpansionWidth);
        Assert.Contains(error.Failures, f => f.Contains("Training:TaskFeatures", StringComparison.Ordinal) && f.Contains("input:M", StringComparison.Ordinal));
    }

    [Fact]
    public void Broker_TLS_files_are_checked_at_start_up_with_messages_naming_them()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Resolve(
            "--Broker:Host=broker.local", "--Broker:CaFile=/nonexistent/ca.crt", "--Broker:ClientCertificateFile=/nonexistent/c.crt"));

        Assert.Contains(error.Failures, f => f.Contains("Broker:UseTls=true", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Broker:CaFile '/nonexistent/ca.crt'", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Broker:ClientKeyFile go together", StringComparison.Ordinal));
    }

    [Fact]
    public void Environment_variables_with_the_BECAME_prefix_are_read()
    {
        Environment.SetEnvironmentVariable("BECAME__TRAINING__LEARNINGRATE", "0.005");
        try
        {
            Assert.Equal(0.005, Resolve().Training.LearningRate);
        }
        finally
        {
            Environment.SetEnvironmentVariable("BECAME__TRAINING__LEARNINGRATE", null);
        }
    }
}

public sealed class RunFlagTests
{
    [Fact]
    public void Misspelled_flag_is_reported()
    {
        Assert.Equal("--devise-id", Hosting.AgentHost.UnknownFlag(["--devise-id", "x"]));
    }

    [Fact]
    public void Known_flags_and_settings_are_accepted()
    {
        Assert.Null(Hosting.AgentHost.UnknownFlag(["--device-id", "x", "--Training:Epochs=3", "--HttpToken", "abcdefghijklmnopq", "--demo", "split-fmnist"]));
    }
}
