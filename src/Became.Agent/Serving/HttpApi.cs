using System.Globalization;
using System.Text.Json;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Observability;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace Became.Agent.Serving;

/// <summary>
/// The HTTP endpoints, on the Kestrel of the agent's own host (one container: with HttpUrls set the host is a web
/// application, see AgentHost.Build; without it there is no web server). Bind 127.0.0.1 for on-device use; off-device
/// access needs an explicit address. With HttpToken set, everything but /healthz needs a bearer token.
/// </summary>
public sealed class HttpApi(
    AgentStore store,
    DeployedModel deployed,
    InferenceService inference,
    VersionRollback rollback,
    ModelExporters exporters,
    AgentMetrics metrics,
    MeterProvider meterProvider,
    StatusPage statusPage,
    IOptions<AgentOptions> options,
    AgentWebApplication web,
    ILogger<HttpApi> logger) : IHostedService
{
    private readonly AgentOptions _options = options.Value;

    /// <summary>Whether <paramref name="configuration"/> asks for HTTP (HttpUrls set).</summary>
    public static bool IsEnabled(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration["HttpUrls"]);

    /// <summary>Kestrel's addresses (HttpUrls) and its body limit (Limits:MaxRequestBytes: larger bodies get 413 before
    /// they are buffered).</summary>
    public static void ConfigureServer(WebApplicationBuilder web)
    {
        web.WebHost.UseUrls(Urls(web.Configuration["HttpUrls"]));

        // Read from the settings, not the validated options: the application resolves Kestrel as it is built, before
        // RunAsync validates them (and reports a bad value in one line); a value that does not read is refused there.
        long limit = long.TryParse(web.Configuration["Limits:MaxRequestBytes"], NumberStyles.None, CultureInfo.InvariantCulture, out long set) ? set : new LimitOptions().MaxRequestBytes;
        web.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = limit);
    }

    /// <summary>Maps the middleware and endpoints onto the agent's web application as the host starts (after the
    /// settings were validated and the store opened; before Kestrel, which the host starts last, builds its pipeline).</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Map(web.App ?? throw new InvalidOperationException("HttpApi runs only in the agent's web application."));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The middleware and endpoints; logs the addresses once Kestrel listens.</summary>
    private void Map(WebApplication app)
    {
        app.Lifetime.ApplicationStarted.Register(() => LogAddresses(app.Urls));
        app.Use(async (context, next) =>
        {
            // Without the bearer header, the status page's cookie may admit a browser (StatusPage writes the refusal).
            if (_options.HttpToken is { } token && context.Request.Path != "/healthz"
                && !HttpToken.Matches(context.Request.Headers.Authorization.ToString(), token)
                && !await StatusPage.AdmitAsync(context, token).ConfigureAwait(false))
            {
                return;
            }

            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (BadHttpRequestException e) when (!context.Response.HasStarted)
            {
                // Kestrel's own refusals (a body over Limits:MaxRequestBytes: 413) keep their status, with a JSON body.
                context.Response.Clear();
                context.Response.StatusCode = e.StatusCode;
                await context.Response.WriteAsJsonAsync(new ErrorReply(e.StatusCode == StatusCodes.Status413PayloadTooLarge ? ErrorCodes.TooLarge : ErrorCodes.BadRequest, e.Message)).ConfigureAwait(false);
            }
            catch (Exception e) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                // Never an empty 500: the client gets the same JSON error shape as every other refusal.
                logger.LogError(e, "HTTP {Method} {Path} failed", context.Request.Method, context.Request.Path);
                context.Response.Clear();
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                await context.Response.WriteAsJsonAsync(new ErrorReply(ErrorCodes.InternalError, "The device failed to answer this request; its log has the details.")).ConfigureAwait(false);
            }
        });
        MapEndpoints(app);
    }

    private static string[] Urls(string? httpUrls) => (httpUrls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private void LogAddresses(ICollection<string> addresses)
    {
        logger.LogInformation("HTTP on {Urls}{Token}", string.Join(", ", addresses), _options.HttpToken is null ? string.Empty : " (bearer token required)");
        if (_options.HttpToken is null && Urls(_options.HttpUrls).FirstOrDefault(u => !HttpToken.IsLoopback(u)) is { } exposed)
        {
            logger.LogWarning("HTTP listens on {Url}, reachable from other machines, without HttpToken: anyone there can read models and roll back versions", exposed);
        }
    }

    private void MapEndpoints(WebApplication app)
    {
        statusPage.Map(app);
        app.MapGet("/healthz", () =>
        {
            int version = deployed.Current.Version;
            return Results.Json(new { live = true, ready = version > 0, deployedVersion = version }, statusCode: version > 0 ? 200 : 503);
        });
        app.MapGet("/models", () =>
        {
            int current = deployed.Current.Version;
            return Results.Json(store.Versions().Select(v => new
            {
                version = v.Version,
                parent = v.ParentVersion,
                taskId = v.TaskId,
                tasks = v.TaskIds,
                mergeCoefficient = v.MergeCoefficient,
                memoryRanks = v.MemoryRanks,
                trainingSeconds = v.TrainingSeconds,
                accuracy = v.Accuracy,
                taskAgnosticAccuracy = v.TaskAgnosticAccuracy,
                sha256 = v.ModelBlob,
                deployed = v.Version == current,
                gateReason = v.GateReason,
                corrupt = v.Corrupt,
                createdAt = v.CreatedAt,
            }));
        });
        app.MapGet("/models/current", (HttpContext context) => ModelFile(context, store.Deployed()));
        app.MapGet("/models/{version:int}", (HttpContext context, int version) => ModelFile(context, store.FindVersion(version)));
        app.MapPost("/models/{version:int}/deploy", async (int version, CancellationToken ct) =>
        {
            try
            {
                var record = await rollback.RequestAsync(version, ct).ConfigureAwait(false);
                return record is null ? Results.Json(new ErrorReply(ErrorCodes.UnknownVersion, $"There is no version {version}."), statusCode: 404)
                    : Results.Json(new RollbackReply(record.Version, record.Deployed, record.Queued), statusCode: record.Queued ? 202 : 200);
            }
            catch (RequestRejectedException e)
            {
                return Results.Json(new ErrorReply(e.Code, e.Message), statusCode: ErrorCodes.HttpStatus(e.Code));
            }
        });
        app.MapPost("/infer", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
            try
            {
                var payload = new ReadOnlyMemory<byte>(buffer.GetBuffer(), 0, (int)buffer.Length);
                var result = metrics.MeasureInference(InferenceTransport.Http, () => inference.Answer(payload));

                // Serialised here, not while streaming the response, so a failure can still become a JSON error.
                byte[] body = JsonSerializer.SerializeToUtf8Bytes(result, AgentJson.Options);
                return Results.Bytes(body, "application/json; charset=utf-8");
            }
            catch (RequestRejectedException e)
            {
                return Results.Json(new ErrorReply(e.Code, e.Message), statusCode: ErrorCodes.HttpStatus(e.Code));
            }
        });
        app.MapGet("/tasks", () => Results.Json(store.AllTasks().Select(t => new
        {
            id = t.Id,
            name = t.Name,
            state = t.State.ToString().ToLowerInvariant(),
            samples = t.Samples,
            classes = t.Classes,
            version = t.Version,
            accuracy = t.Version is int v && store.FindVersion(v)?.Accuracy.TryGetValue(t.Id, out double a) == true ? a : (double?)null,
            acceptedAt = t.AcceptedAt,
            learnedAt = t.LearnedAt,
            error = t.Error,
        })));

        // The host's meter provider (AgentTelemetry).
        app.MapPrometheusScrapingEndpoint("/metrics", meterProvider, configureBranchedPipeline: null, optionsName: null);
    }

    /// <summary>A version's model in the format of <c>?format=</c> (safetensors by default), with its sha256 as ETag.</summary>
    private IResult ModelFile(HttpContext context, ModelVersionRecord? record)
    {
        IModelExporter exporter;
        try
        {
            exporter = exporters.Find(context.Request.Query["format"].FirstOrDefault());
        }
        catch (RequestRejectedException e)
        {
            return Results.Json(new ErrorReply(e.Code, e.Message), statusCode: ErrorCodes.HttpStatus(e.Code));
        }

        if (record is null)
        {
            return Results.Json(new ErrorReply(ErrorCodes.UnknownVersion, "No such model version."), statusCode: 404);
        }

        // The stored format's ETag is the model blob's name, known without reading it; another format's names it too.
        string tag = exporter.Format == ModelExporters.Default ? record.ModelBlob : $"{record.ModelBlob}.{exporter.Format}";
        string etag = $"\"{tag}\"";
        context.Response.Headers.ETag = etag;
        context.Response.Headers["X-Model-Version"] = record.Version.ToString(CultureInfo.InvariantCulture);
        if (context.Request.Headers.IfNoneMatch.Any(v => v == etag || v == tag))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        var (bytes, _) = exporters.Export(exporter, record, store.Blobs.Get(record.ModelBlob));
        return Results.Bytes(bytes, exporter.MediaType, $"became-model-v{record.Version}.{exporter.Extension}");
    }
}

/// <summary>The agent's web application, once built (AgentHost.Build sets it; HttpApi maps onto it as the host starts).</summary>
public sealed class AgentWebApplication
{
    /// <summary>The application, or null while it is being built.</summary>
    public WebApplication? App { get; set; }
}
