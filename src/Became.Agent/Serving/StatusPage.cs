using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Became.Agent.Deployment;
using Became.Agent.Messaging;
using Became.Agent.Protocol;
using Became.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Became.Agent.Serving;

/// <summary>
/// The operator's status page: the page and its assets at / (embedded, nothing from the internet), the retained status
/// at GET /status and the live stream at GET /events (server-sent events: the recent history, then every event and
/// each change of the status, with heartbeat comments). With HttpToken set, a browser gets in once through
/// <c>/?token=…</c> (or the login form), which sets an HttpOnly SameSite=Strict cookie and redirects to a clean URL.
/// </summary>
public sealed class StatusPage(DeviceStatus status, EventFeed feed)
{
    /// <summary>The cookie that admits the page's own requests after the token was given once.</summary>
    public const string CookieName = "became_session";

    /// <summary>The header the page sends with its POSTs: a cookie alone never authorises a change (cross-site forms
    /// cannot set headers), on top of SameSite=Strict.</summary>
    public const string PageHeader = "X-Became-Page";

    /// <summary>How long a quiet stream waits before a comment line keeps proxies and browsers from closing it.</summary>
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);

    // How often the stream looks at the status (state, queue) for a change: the job sets it without an event.
    private static readonly TimeSpan StatusPoll = TimeSpan.FromSeconds(1);

    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private static readonly IReadOnlyDictionary<string, Asset> Assets = LoadAssets();

    /// <summary>Maps /, /ui/{asset}, /status and /events; the stream ends when <paramref name="app"/> stops.</summary>
    public void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/", (HttpContext context) => Serve(context, "index.html"));
        app.MapGet("/ui/{name}", (HttpContext context, string name) => Serve(context, name));
        app.MapGet("/status", () => Results.Json(status.Current(), AgentJsonContext.Default.AgentStatus));
        app.MapGet("/events", (HttpContext context) => StreamAsync(context, app.Lifetime.ApplicationStopping));
    }

    /// <summary>
    /// Called for a request without a valid bearer token: true when the page's cookie admits it; otherwise the
    /// response is written here (the cookie and a redirect for a right <c>/?token=</c>, the login form for the page,
    /// a bare 401 elsewhere) and the request goes no further.
    /// </summary>
    public static async Task<bool> AdmitAsync(HttpContext context, string token)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;
        bool read = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method);
        if (request.Cookies.TryGetValue(CookieName, out string? cookie) && Same(cookie, SessionValue(token))
            && (read || request.Headers.ContainsKey(PageHeader)))
        {
            return true;
        }

        bool page = request.Path == "/" && read;
        bool tried = page && request.Query.ContainsKey("token");
        if (tried && Same(request.Query["token"].ToString(), token))
        {
            context.Response.Cookies.Append(CookieName, SessionValue(token), new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = request.IsHttps,
                Path = "/",
                MaxAge = TimeSpan.FromDays(30),
                IsEssential = true,
            });

            // 303 to the bare page: the token leaves the address bar and the history.
            context.Response.StatusCode = StatusCodes.Status303SeeOther;
            context.Response.Headers.Location = "/";
            context.Response.Headers.CacheControl = "no-store";
            return false;
        }

        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        if (page)
        {
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.Headers.CacheControl = "no-store";
            await context.Response.WriteAsync(LoginPage(tried), context.RequestAborted).ConfigureAwait(false);
        }

        return false;
    }

    // The cookie carries a keyed hash of the token, not the token: what a browser stores cannot be replayed as a bearer.
    private static string SessionValue(string token) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), "became status page session"u8));

    private static bool Same(string given, string expected) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(expected));

    private static IResult Serve(HttpContext context, string name)
    {
        if (!Assets.TryGetValue(name, out var asset))
        {
            return Results.Json(new ErrorReply(ErrorCodes.BadRequest, $"There is no page asset {name}."), statusCode: 404);
        }

        var headers = context.Response.Headers;
        headers.ETag = asset.ETag;
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        if (context.Request.Headers.IfNoneMatch.Any(v => v == asset.ETag))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(asset.Bytes, asset.ContentType);
    }

    private async Task StreamAsync(HttpContext context, CancellationToken stopping)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var cancellationToken = linked.Token;
        var response = context.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        // Subscribe before reading the history, then skip what the history already sent: nothing lost, nothing twice.
        var live = feed.SubscribeAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        var next = live.MoveNextAsync().AsTask();
        try
        {
            var writer = new StreamWriter(response.Body, new UTF8Encoding(false)) { NewLine = "\n" };
            await using (writer.ConfigureAwait(false))
            {
                var history = feed.Recent();
                long sent = LastEventId(context.Request, history);
                await writer.WriteAsync("retry: 3000\n\n").ConfigureAwait(false);
                foreach (var entry in history.Where(e => e.Sequence > sent))
                {
                    await WriteEventAsync(writer, entry).ConfigureAwait(false);
                    sent = entry.Sequence;
                }

                string? shown = null;
                var quietSince = DateTime.UtcNow;
                while (!cancellationToken.IsCancellationRequested)
                {
                    var current = status.Current();
                    string key = StatusKey(current);
                    if (key != shown)
                    {
                        shown = key;
                        await writer.WriteAsync($"event: status\ndata: {System.Text.Json.JsonSerializer.Serialize(current, AgentJsonContext.Default.AgentStatus)}\n\n").ConfigureAwait(false);
                        quietSince = DateTime.UtcNow;
                    }
                    else if (DateTime.UtcNow - quietSince >= Heartbeat)
                    {
                        await writer.WriteAsync(": heartbeat\n\n").ConfigureAwait(false);
                        quietSince = DateTime.UtcNow;
                    }

                    await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                    using var tick = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    var delay = Task.Delay(StatusPoll, tick.Token);
                    if (await Task.WhenAny(next, delay).ConfigureAwait(false) == next)
                    {
                        await tick.CancelAsync().ConfigureAwait(false);
                        if (!next.IsCompletedSuccessfully || !next.Result)
                        {
                            break;
                        }

                        var entry = live.Current;
                        next = live.MoveNextAsync().AsTask();
                        if (entry.Sequence > sent)
                        {
                            await WriteEventAsync(writer, entry).ConfigureAwait(false);
                            sent = entry.Sequence;
                            quietSince = DateTime.UtcNow;
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The page went away or the agent stops: the response simply ends.
        }
        catch (IOException) when (cancellationToken.IsCancellationRequested || context.RequestAborted.IsCancellationRequested)
        {
        }
        finally
        {
            await linked.CancelAsync().ConfigureAwait(false);
            try
            {
                await next.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            await live.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task WriteEventAsync(StreamWriter writer, FeedEntry entry)
    {
        await writer.WriteAsync(string.Create(CultureInfo.InvariantCulture, $"id: {entry.Sequence}\n")).ConfigureAwait(false);

        // An SSE data field ends at a line break: a multi-line JSON text goes out as several data lines.
        foreach (string line in entry.Json.Split('\n'))
        {
            await writer.WriteAsync($"data: {line.TrimEnd('\r')}\n").ConfigureAwait(false);
        }

        await writer.WriteAsync('\n').ConfigureAwait(false);
    }

    // A reconnecting page names the last event it saw; a number beyond the history is from before a restart of the
    // agent (sequences start again), so that page gets the whole history.
    private static long LastEventId(HttpRequest request, IReadOnlyList<FeedEntry> history)
    {
        if (long.TryParse(request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out long id)
            && history.Count > 0 && id <= history[^1].Sequence)
        {
            return id;
        }

        return 0;
    }

    private static string StatusKey(AgentStatus s) =>
        string.Create(CultureInfo.InvariantCulture, $"{s.State}|{s.DeployedVersion}|{s.QueueLength}|{s.TasksLearned}|{s.LastError}");

    private static string LoginPage(bool wrongToken) => $$"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Became: token required</title><link rel="icon" href="data:,">
        <style>body{font:16px/1.5 system-ui,sans-serif;max-width:26rem;margin:12vh auto;padding:0 1rem;color:#1d2733}
        input,button{font:inherit;padding:.5rem .7rem;border:1px solid #aab4c0;border-radius:6px}input{width:100%;box-sizing:border-box;margin:.5rem 0}
        button{background:#1f5fa8;color:#fff;border-color:#1f5fa8;cursor:pointer}.error{color:#a32020}</style></head>
        <body><h1>Became</h1><p>This device's HTTP needs its token (the agent's <code>HttpToken</code> setting).</p>
        {{(wrongToken ? "<p class=\"error\" id=\"wrong-token\">That token is not right.</p>" : string.Empty)}}
        <form method="get" action="/"><label for="token">Token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
        <button type="submit">Open the status page</button></form></body></html>
        """;

    private static Dictionary<string, Asset> LoadAssets()
    {
        var assembly = typeof(StatusPage).Assembly;
        const string prefix = "StatusPage/";
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (string resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            byte[] bytes = buffer.ToArray();
            string name = resource[prefix.Length..];
            string type = Path.GetExtension(name) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            assets[name] = new Asset(bytes, type, $"\"{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}\"");
        }

        return assets;
    }

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);
}
