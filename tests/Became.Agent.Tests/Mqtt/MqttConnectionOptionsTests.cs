using Became.Agent.Mqtt;

namespace Became.Agent.Tests.Mqtt;

/// <summary>Settings that cannot work are refused when the connection is built.</summary>
public sealed class MqttConnectionOptionsTests
{
    private static readonly MqttConnectionOptions Valid = new() { Host = "127.0.0.1", ClientId = "agent" };

    [Fact]
    public void Defaults_are_valid()
    {
        Valid.Validate();
        Assert.Equal(TimeSpan.FromSeconds(15), Valid.KeepAlive);
        Assert.Equal(TimeSpan.FromDays(7), Valid.SessionExpiry);
        Assert.Equal(1000, Valid.OutboxCapacity);
    }

    [Theory]
    [InlineData("client id")]
    [InlineData("reconnect")]
    [InlineData("outbox")]
    [InlineData("port")]
    public void Unworkable_settings_are_refused(string broken)
    {
        var options = broken switch
        {
            "client id" => Valid with { ClientId = " " },
            "reconnect" => Valid with { ReconnectMin = TimeSpan.FromSeconds(2), ReconnectMax = TimeSpan.FromSeconds(1) },
            "outbox" => Valid with { OutboxCapacity = 0 },
            _ => Valid with { Port = 0 },
        };

        Assert.Throws<ArgumentException>(options.Validate);
    }
}
