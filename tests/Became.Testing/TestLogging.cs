using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Became.Testing;

/// <summary>Writes log lines to the test's output and remembers their event ids, for tests that assert on logging.</summary>
internal sealed class TestLoggerProvider(ITestOutputHelper output) : ILoggerProvider
{
    private readonly DateTime _start = DateTime.UtcNow;

    public ConcurrentQueue<(string Category, EventId Event, string Message)> Entries { get; } = new();

    public ILoggerFactory CreateFactory() =>
        LoggerFactory.Create(builder => builder.SetMinimumLevel(LogLevel.Debug).AddProvider(this));

    public int Count(int eventId) => Entries.Count(e => e.Event.Id == eventId);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    public void Dispose()
    {
    }

    private void Write(string category, LogLevel level, EventId eventId, string message, Exception? exception)
    {
        Entries.Enqueue((category, eventId, message));
        var line = $"{(DateTime.UtcNow - _start).TotalMilliseconds,7:F0} ms {level,-11} {category}: {message}";
        if (exception is not null)
        {
            line += $" [{exception.GetType().Name}: {exception.Message}]";
        }

        try
        {
            output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // Background loops may log after the test finished; xunit refuses output then.
        }
    }

    private sealed class Logger(TestLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            provider.Write(category, logLevel, eventId, formatter(state, exception), exception);
    }
}
