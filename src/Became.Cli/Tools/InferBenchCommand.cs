using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Became.Core.Data;
using Became.Protocol;

namespace Became.Cli.Tools;

/// <summary>What <c>became bench-infer</c> measured: request counts, throughput and latency from each request's scheduled start.</summary>
public sealed record InferBenchResult(int Sent, int Succeeded, int Failed, double Seconds, double RequestsPerSecond, double P50Milliseconds, double P99Milliseconds, double MaxMilliseconds);

/// <summary>Settings of one <c>became bench-infer</c> run; <paramref name="Target"/> names the endpoint in the report.</summary>
public sealed record InferBenchOptions(string Target, double Rate, TimeSpan Duration);

/// <summary>
/// <c>became bench-infer</c>: POSTs infer requests to a running agent at a steady rate (open loop) and reports
/// requests/s and p50/p99 latency. Latency counts from when a request was due, not when it was sent, so a
/// stalled client or server cannot hide queueing (no coordinated omission).
/// </summary>
public static class InferBenchCommand
{
    /// <summary>Runs <c>became bench-infer ARGS</c>.</summary>
    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        BecameCli.RunAsync(["bench-infer", .. args], output, error, cancellationToken);

    internal static Command Create()
    {
        var http = CommonOptions.Http();
        var token = CommonOptions.Token();
        var broker = CommonOptions.Broker();
        var device = CommonOptions.Device();
        var task = new Option<string>("--task") { Description = "the task id whose head answers (requests of Fashion-MNIST test images)", HelpName = "ID" };
        var rate = new Option<double>("--rate") { Description = "requests per second (default 50)", HelpName = "R", DefaultValueFactory = _ => 50 }.Positive();
        var seconds = new Option<double>("--seconds") { Description = "how long to send (default 20)", HelpName = "S", DefaultValueFactory = _ => 20 }.Positive();
        var batch = new Option<int>("--batch") { Description = "images per request (default 1)", HelpName = "N", DefaultValueFactory = _ => 1 }.AtLeast(1);
        var requestFile = new Option<string>("--request") { Description = "send this request body instead (request.json)", HelpName = "FILE" };
        var login = new BrokerLoginOptions();
        var command = new Command("bench-infer", "infer requests at a steady rate against a running agent (HTTP POST /infer or MQTT 5 request/response): req/s, p50/p99 latency")
        {
            http, token, broker, device, task, rate, seconds, batch, requestFile,
        };
        login.AddTo(command);
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var (output, _) = (parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error);
            string? url = parsed.GetValue(http);
            string? brokerAddress = parsed.GetValue(broker);
            string? deviceId = parsed.GetValue(device);
            var account = login.Read(parsed);
            if ((url is null) == (brokerAddress is null))
            {
                throw new UsageException("give --http URL, or --broker HOST:PORT with --device ID (one of them)");
            }

            if (url is null && deviceId is null)
            {
                throw new UsageException("--broker needs --device ID (the device to ask)");
            }

            string? taskId = parsed.GetValue(task);
            string? file = parsed.GetValue(requestFile);
            if (taskId is null && file is null)
            {
                throw new UsageException("give --task ID (Fashion-MNIST test images for that task) or --request FILE");
            }

            var options = new InferBenchOptions(url ?? $"mqtt://{brokerAddress} device {deviceId}", parsed.GetValue(rate), TimeSpan.FromSeconds(parsed.GetValue(seconds)));
            int images = parsed.GetValue(batch);
            byte[] body;
            try
            {
                body = file is not null ? await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false) : FashionMnistRequest(taskId!, images);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                throw new UsageException(file is not null ? $"--request: {e.Message}" : e.Message);
            }

            InferBenchResult result;
            if (url is not null)
            {
                using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
                if (parsed.GetValue(token) is string bearer)
                {
                    client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
                }

                result = await MeasureAsync(options, ct => PostAsync(client, body, ct), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var (host, port) = BrokerAddress.Parse(brokerAddress!);
                await using var mqtt = await InferBenchMqtt.ConnectAsync(host, port, account, Topics.DefaultRoot, deviceId!, cancellationToken).ConfigureAwait(false);
                result = await MeasureAsync(options, ct => mqtt.RequestAsync(body, ct), cancellationToken).ConfigureAwait(false);
            }

            await output.WriteLineAsync(Format(options, images, result)).ConfigureAwait(false);
            return result.Failed == 0 ? ExitCodes.Ok : ExitCodes.Failure;
        });
        return command;
    }

    /// <summary>Sends requests due every 1/rate seconds for the duration, then waits for the answers.</summary>
    /// <param name="options">Rate, duration and the target's name.</param>
    /// <param name="send">Sends one request; true when it was answered without an error.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    public static async Task<InferBenchResult> MeasureAsync(InferBenchOptions options, Func<CancellationToken, Task<bool>> send, CancellationToken cancellationToken)
    {
        // One unmeasured request first: connection set-up and JIT are not what is being measured.
        await TimeAsync(send, Stopwatch.StartNew(), TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        var requests = new List<Task<double?>>();
        for (int i = 0; ; i++)
        {
            var due = TimeSpan.FromSeconds(i / options.Rate);
            if (due >= options.Duration)
            {
                break;
            }

            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
            }

            requests.Add(TimeAsync(send, clock, due, cancellationToken));
        }

        var latencies = await Task.WhenAll(requests).ConfigureAwait(false);
        double seconds = clock.Elapsed.TotalSeconds;
        var ok = latencies.Where(l => l is not null).Select(l => l!.Value).Order().ToArray();
        return new InferBenchResult(latencies.Length, ok.Length, latencies.Length - ok.Length, seconds, ok.Length / seconds,
            Percentile(ok, 0.50), Percentile(ok, 0.99), ok.Length == 0 ? double.NaN : ok[^1]);
    }

    public static string Format(InferBenchOptions options, int batch, InferBenchResult r) => string.Create(CultureInfo.InvariantCulture,
        $"bench-infer: {r.Sent} requests due at {options.Rate:0.#}/s for {options.Duration.TotalSeconds:0.#} s (batch {batch}) to {options.Target}: {r.Succeeded} ok, {r.Failed} failed\n" +
        $"throughput {r.RequestsPerSecond:F1} req/s; latency p50 {r.P50Milliseconds:F1} ms, p99 {r.P99Milliseconds:F1} ms, max {r.MaxMilliseconds:F1} ms");

    /// <summary>Milliseconds from when the request was due to its successful answer; null when it failed.</summary>
    private static async Task<double?> TimeAsync(Func<CancellationToken, Task<bool>> send, Stopwatch clock, TimeSpan due, CancellationToken cancellationToken)
    {
        try
        {
            return await send(cancellationToken).ConfigureAwait(false) ? (clock.Elapsed - due).TotalMilliseconds : null;
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or IOException or MQTTnet.Exceptions.MqttCommunicationException
            or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private static async Task<bool> PostAsync(HttpClient http, byte[] body, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await http.PostAsync(new Uri("infer", UriKind.Relative), content, cancellationToken).ConfigureAwait(false);
        await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        return response.IsSuccessStatusCode;
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static byte[] FashionMnistRequest(string taskId, int batch)
    {
        var test = ImageClassificationDataset.Load().Test;
        var inputs = Enumerable.Range(0, batch).Select(i => test.Image(i % test.Count).ToArray().Select(b => b / 255f).ToArray()).ToArray();
        return JsonSerializer.SerializeToUtf8Bytes(new { taskId, inputs });
    }
}
