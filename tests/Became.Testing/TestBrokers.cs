using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Became.Agent.Mqtt;
using Microsoft.Extensions.Logging;

namespace Became.Testing;

/// <summary>Which broker a test runs against.</summary>
public enum BrokerKind
{
    Mosquitto,
    Embedded,
}

/// <summary>A broker owned by one test: started on a free loopback port, stoppable and restartable on that port.</summary>
internal interface ITestBroker : IAsyncDisposable
{
    int Port { get; }

    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Stops gracefully (mosquitto saves its persistence file); the port stays reserved for a restart.</summary>
    Task StopAsync(CancellationToken cancellationToken);
}

internal static class TestBrokers
{
    public static async Task<ITestBroker> StartAsync(BrokerKind kind, ILoggerFactory loggers, string extraConfig = "")
    {
        ITestBroker broker = kind switch
        {
            BrokerKind.Mosquitto => new MosquittoBroker(loggers.CreateLogger("mosquitto"), extraConfig),
            BrokerKind.Embedded => new EmbeddedTestBroker(loggers),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        try
        {
            await broker.StartAsync(CancellationToken.None);
            return broker;
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The embedded broker; a restart is a new instance on the port the first one got (sessions are lost).</summary>
internal sealed class EmbeddedTestBroker(ILoggerFactory loggers) : ITestBroker
{
    private EmbeddedBroker? _broker;

    public int Port { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _broker = new EmbeddedBroker(Port, loggers.CreateLogger<EmbeddedBroker>());
        await _broker.StartAsync(cancellationToken);
        Port = _broker.Port;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
            _broker = null;
        }
    }

    public ValueTask DisposeAsync() => new(StopAsync(CancellationToken.None));
}

/// <summary>A real mosquitto child process with persistence in its own temporary folder.</summary>
internal sealed class MosquittoBroker : ITestBroker
{
    private const int Sigterm = 15;
    private readonly ILogger _logger;
    private readonly string _directory;
    private readonly string _configFile;
    private Process? _process;

    public MosquittoBroker(ILogger logger, string extraConfig)
    {
        _logger = logger;
        _directory = Directory.CreateTempSubdirectory("became-mosquitto-").FullName;
        _configFile = Path.Combine(_directory, "mosquitto.conf");
        Port = TestBrokers.FreePort();

        // Started as root, mosquitto would switch to the 'mosquitto' user and lose access to the temporary folder.
        // Anonymous clients are welcome unless the extra configuration decides (a password file and an ACL).
        File.WriteAllText(_configFile, $"""
            listener {Port} 127.0.0.1
            {(extraConfig.Contains("allow_anonymous", StringComparison.Ordinal) ? "" : "allow_anonymous true")}
            persistence true
            persistence_location {_directory}/
            user {Environment.UserName}
            {extraConfig}
            """);
    }

    public int Port { get; }

    public static string Executable =>
        Environment.GetEnvironmentVariable("MOSQUITTO") is { Length: > 0 } configured ? configured
        : File.Exists("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto"
        : "mosquitto";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Executable, ["-c", _configFile])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("mosquitto did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"Cannot run {Executable} ({e.Message}); install it: apt-get install -y mosquitto", e);
        }

        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => Log(output, e.Data);
        process.ErrorDataReceived += (_, e) => Log(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!await AcceptsConnectionsAsync(cancellationToken))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                lock (output)
                {
                    throw new InvalidOperationException($"mosquitto did not listen on {Port}:\n{output}");
                }
            }

            await Task.Delay(10, cancellationToken);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var process = _process;
        _process = null;
        if (process is null)
        {
            return;
        }

        using (process)
        {
            if (!process.HasExited)
            {
                // SIGTERM, not Process.Kill's SIGKILL: mosquitto writes its persistence file on a graceful stop.
                _ = Kill(process.Id, Sigterm);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    process.Kill();
                    await process.WaitForExitAsync(CancellationToken.None);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        var process = _process;
        _process = null;
        if (process is not null)
        {
            using (process)
            {
                if (!process.HasExited)
                {
                    process.Kill();
                    await process.WaitForExitAsync(CancellationToken.None);
                }
            }
        }

        Directory.Delete(_directory, recursive: true);
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private async Task<bool> AcceptsConnectionsAsync(CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, Port, cancellationToken);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private void Log(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }

        _logger.LogDebug("{Line}", line);
    }
}
