using System.Threading.Channels;
using Became.Agent.Mqtt;

namespace Became.Testing;

/// <summary>Waits for a condition by polling it until a deadline, instead of sleeping for a guessed time.</summary>
internal static class Eventually
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Reads a value (e.g. over HTTP) until it meets the condition, and returns that value.</summary>
    public static async Task<T> ValueAsync<T>(Func<Task<T>> read, Func<T, bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeout);
        while (true)
        {
            var value = await read();
            if (condition(value))
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(100);
        }
    }
}

/// <summary>Collects the messages a connection's handler saw, in order.</summary>
internal sealed class Inbox
{
    private readonly Channel<MqttIncomingMessage> _messages = Channel.CreateUnbounded<MqttIncomingMessage>();

    /// <summary>Acknowledges, then records.</summary>
    public Func<MqttIncomingMessage, CancellationToken, Task> Acknowledging => async (message, cancellationToken) =>
    {
        await message.AcknowledgeAsync(cancellationToken);
        _messages.Writer.TryWrite(message);
    };

    /// <summary>Records, then fails like a handler with a bug.</summary>
    public Func<MqttIncomingMessage, CancellationToken, Task> Throwing => (message, _) =>
    {
        _messages.Writer.TryWrite(message);
        throw new InvalidOperationException("handler failure (test)");
    };

    public async Task<MqttIncomingMessage> NextAsync(TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? Eventually.Timeout);
        try
        {
            return await _messages.Reader.ReadAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("No message arrived in time.");
        }
    }
}
