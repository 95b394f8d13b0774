using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Became.Testing;

/// <summary>
/// Debian's chromium, headless, driven over the DevTools protocol (a WebSocket, no driver package): navigation,
/// script evaluation, screenshots, and everything the page reports as an error (console errors, uncaught exceptions,
/// error log entries). JavaScript dialogs are accepted as they open and recorded. A chromium that cannot start fails
/// the test with the set-up hint; it never skips.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    private const string SetupHint = "chromium is needed for the status page's browser test: run scripts/setup.sh (it installs Debian's chromium package).";

    private readonly Process _process;
    private readonly DirectoryInfo _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly SemaphoreSlim _sending = new(1, 1);
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly ConcurrentQueue<string> _dialogs = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly StringBuilder _stderr = new();
    private Task _receiving = Task.CompletedTask;
    private int _nextId;

    private HeadlessChromium(Process process, DirectoryInfo profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>Errors the page reported so far (console.error, uncaught exceptions, error log entries).</summary>
    public IReadOnlyList<string> Errors => [.. _errors];

    /// <summary>The messages of the dialogs accepted so far (confirm, alert).</summary>
    public IReadOnlyList<string> Dialogs => [.. _dialogs];

    /// <summary>Starts chromium with a throw-away profile and attaches to its first tab.</summary>
    public static async Task<HeadlessChromium> StartAsync(TimeSpan timeout)
    {
        string executable = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("chromium is not installed. " + SetupHint);
        var profile = Directory.CreateTempSubdirectory("became-chromium-");
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string argument in (string[])["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--disable-sync", "--mute-audio",
            "--remote-debugging-port=0", $"--user-data-dir={profile.FullName}", "--window-size=1280,900", "about:blank"])
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("chromium did not start. " + SetupHint);
        }
        catch (Win32Exception e)
        {
            profile.Delete(recursive: true);
            throw new InvalidOperationException($"chromium could not be started ({e.Message}). " + SetupHint, e);
        }

        var browser = new HeadlessChromium(process, profile);
        process.ErrorDataReceived += (_, e) =>
        {
            lock (browser._stderr)
            {
                browser._stderr.AppendLine(e.Data);
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            await browser.AttachAsync(timeout);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    private async Task AttachAsync(TimeSpan timeout)
    {
        // chromium writes its port to DevToolsActivePort in the profile once it listens.
        string portFile = Path.Combine(_profile.FullName, "DevToolsActivePort");
        var deadline = DateTime.UtcNow + timeout;
        string[] lines = [];
        while (lines.Length < 2)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"chromium exited with {_process.ExitCode} before it listened. {SetupHint}\n{StandardError()}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"chromium did not open its DevTools port within {timeout.TotalSeconds} s.\n{StandardError()}");
            }

            lines = File.Exists(portFile) ? (await File.ReadAllLinesAsync(portFile)).Where(l => l.Length > 0).ToArray() : [];
            await Task.Delay(50);
        }

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{lines[0]}"), Timeout = timeout };
        JsonElement page = default;
        while (page.ValueKind != JsonValueKind.Object)
        {
            var targets = await http.GetFromJsonAsync<JsonElement>("/json/list");
            page = targets.EnumerateArray().FirstOrDefault(t => t.GetProperty("type").GetString() == "page");
            if (page.ValueKind != JsonValueKind.Object)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("chromium opened no tab.");
                }

                await Task.Delay(50);
            }
        }

        await _socket.ConnectAsync(new Uri(page.GetProperty("webSocketDebuggerUrl").GetString()!), CancellationToken.None);
        _receiving = Task.Run(ReceiveAsync);
        await SendAsync("Runtime.enable");
        await SendAsync("Log.enable");
        await SendAsync("Page.enable");
    }

    /// <summary>Sends one DevTools command and returns its result; a protocol error throws.</summary>
    public async Task<JsonElement> SendAsync(string method, object? parameters = null, TimeSpan? timeout = null)
    {
        int id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        await SendRawAsync(id, method, parameters);
        var message = await reply.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(60));
        if (message.TryGetProperty("error", out var error))
        {
            throw new InvalidOperationException($"DevTools {method} failed: {error.GetRawText()}");
        }

        return message.GetProperty("result");
    }

    private async Task SendRawAsync(int id, string method, object? parameters)
    {
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(new { id, method, @params = parameters ?? new { } });
        await _sending.WaitAsync();
        try
        {
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }
        finally
        {
            _sending.Release();
        }
    }

    /// <summary>Opens <paramref name="url"/> and waits until the document has loaded.</summary>
    public async Task NavigateAsync(string url, TimeSpan timeout)
    {
        await SendAsync("Page.navigate", new { url }, timeout);
        await WaitUntilAsync("document.readyState === 'complete' && location.href !== 'about:blank'", timeout, $"{url} loaded");
    }

    /// <summary>Evaluates a JavaScript expression in the page (promises awaited) and returns its value.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise = true });
        if (result.TryGetProperty("exceptionDetails", out var exception))
        {
            throw new InvalidOperationException($"The page threw on `{expression}`: {exception.GetRawText()}");
        }

        var value = result.GetProperty("result");
        return value.TryGetProperty("value", out var v) ? v.Clone() : default;
    }

    /// <summary>The text of the element with this id ("" when it is absent).</summary>
    public async Task<string> TextAsync(string id) =>
        (await EvaluateAsync($"(document.getElementById({JsonSerializer.Serialize(id)}) || {{ textContent: '' }}).textContent")).GetString() ?? string.Empty;

    /// <summary>Polls a JavaScript condition until it holds.</summary>
    public async Task WaitUntilAsync(string condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var value = await EvaluateAsync($"!!({condition})");
            if (value.ValueKind == JsonValueKind.True)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds} s waiting until {what} ({condition}). Page errors: {string.Join(" | ", Errors)}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Forgets the errors seen so far (e.g. the refusals of a deliberate login test).</summary>
    public void ClearErrors() => _errors.Clear();

    /// <summary>Sets the viewport (CSS pixels) as a phone or a desktop window would have it.</summary>
    public Task SetViewportAsync(int width, int height, bool mobile) =>
        SendAsync("Emulation.setDeviceMetricsOverride", new { width, height, deviceScaleFactor = 1, mobile });

    /// <summary>Writes a PNG of the whole page (not just the viewport) to <paramref name="path"/>.</summary>
    public async Task ScreenshotAsync(string path, int width, bool mobile)
    {
        await SetViewportAsync(width, 900, mobile);
        int height = (await EvaluateAsync("Math.ceil(document.documentElement.scrollHeight)")).GetInt32();
        await SetViewportAsync(width, height, mobile);
        var shot = await SendAsync("Page.captureScreenshot", new { format = "png", captureBeyondViewport = false });
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(shot.GetProperty("data").GetString()!));
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var result = await _socket.ReceiveAsync(buffer, _closing.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }

                using var document = JsonDocument.Parse(message.ToArray());
                message.SetLength(0);
                Dispatch(document.RootElement.Clone());
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        finally
        {
            foreach (var pending in _pending.Values)
            {
                pending.TrySetException(new InvalidOperationException("chromium closed the DevTools connection.\n" + StandardError()));
            }
        }
    }

    private void Dispatch(JsonElement message)
    {
        if (message.TryGetProperty("id", out var id))
        {
            if (_pending.TryRemove(id.GetInt32(), out var reply))
            {
                reply.TrySetResult(message);
            }

            return;
        }

        var parameters = message.TryGetProperty("params", out var p) ? p : default;
        switch (message.GetProperty("method").GetString())
        {
            case "Runtime.consoleAPICalled" when parameters.GetProperty("type").GetString() is "error" or "assert":
                _errors.Enqueue("console." + parameters.GetProperty("type").GetString() + ": " + string.Join(" ", parameters.GetProperty("args").EnumerateArray().Select(a => a.TryGetProperty("value", out var v) ? v.ToString() : a.GetProperty("type").GetString())));
                break;
            case "Runtime.exceptionThrown":
                var details = parameters.GetProperty("exceptionDetails");
                _errors.Enqueue("exception: " + (details.TryGetProperty("exception", out var ex) && ex.TryGetProperty("description", out var d) ? d.GetString() : details.GetProperty("text").GetString()));
                break;
            case "Log.entryAdded" when parameters.GetProperty("entry").GetProperty("level").GetString() == "error":
                var entry = parameters.GetProperty("entry");
                _errors.Enqueue("log: " + entry.GetProperty("text").GetString() + (entry.TryGetProperty("url", out var url) ? " (" + url.GetString() + ")" : string.Empty));
                break;
            case "Page.javascriptDialogOpening":
                _dialogs.Enqueue(parameters.GetProperty("message").GetString() ?? string.Empty);

                // Answered from here without waiting for the reply: this loop is what delivers it.
                _ = SendRawAsync(Interlocked.Increment(ref _nextId), "Page.handleJavaScriptDialog", new { accept = true });
                break;
        }
    }

    private string StandardError()
    {
        lock (_stderr)
        {
            return _stderr.ToString();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, quick.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }

        await _closing.CancelAsync();
        await _receiving.ConfigureAwait(false);
        _socket.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        _process.Dispose();
        _closing.Dispose();
        _sending.Dispose();
        try
        {
            _profile.Delete(recursive: true);
        }
        catch (IOException)
        {
            // chromium's last writes may race the delete; a leftover temp profile is harmless.
        }
    }
}
