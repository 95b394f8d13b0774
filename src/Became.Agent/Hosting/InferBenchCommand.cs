using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Became.Core.Data;

namespace Became.Agent.Hosting;

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
    public const string Usage = """
        became bench-infer (--http URL [--token T] | --broker HOST:PORT --device ID) --task ID [--rate 50] [--seconds 20]
                           [--batch 1] [--request request.json]
          sends infer requests (HTTP POST /infer, or MQTT 5 request/response on became/ID/infer) at a steady rate;
          without --request, each request holds --batch Fashion-MNIST test images for task ID.
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i + 1 < args.Count; i += 2)
        {
            values[args[i]] = args[i + 1];
        }

        string[] known = ["--http", "--token", "--broker", "--device", "--task", "--rate", "--seconds", "--batch", "--request"];
        bool http = values.TryGetValue("--http", out string? url);
        if (args.Count % 2 != 0 || values.Keys.Any(k => !known.Contains(k)) || http == values.ContainsKey("--broker")
            || (!http && !values.ContainsKey("--device")) || (!values.ContainsKey("--task") && !values.ContainsKey("--request")))
        {
            await error.WriteLineAsync(Usage).ConfigureAwait(false);
            return 2;
        }

        var options = new InferBenchOptions(
            http ? url! : $"mqtt://{values["--broker"]} device {values["--device"]}",
            double.Parse(values.GetValueOrDefault("--rate", "50"), CultureInfo.InvariantCulture),
            TimeSpan.FromSeconds(double.Parse(values.GetValueOrDefault("--seconds", "20"), CultureInfo.InvariantCulture)));
        int batch = int.Parse(values.GetValueOrDefault("--batch", "1"), CultureInfo.InvariantCulture);
        if (options.Rate <= 0 || options.Duration <= TimeSpan.Zero || batch < 1)
        {
            await error.WriteLineAsync("became bench-infer: --rate, --seconds and --batch must be positive.").ConfigureAwait(false);
            return 2;
        }

        byte[] body = values.TryGetValue("--request", out string? file)
            ? await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false)
            : FashionMnistRequest(values["--task"], batch);
        InferBenchResult result;
        if (http)
        {
            using var client = new HttpClient { BaseAddress = new Uri(url!), Timeout = TimeSpan.FromSeconds(60) };
            if (values.TryGetValue("--token", out string? token))
            {
                client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            result = await MeasureAsync(options, ct => PostAsync(client, body, ct), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var (host, port) = BrokerAddress.Parse(values["--broker"]);
            await using var mqtt = await InferBenchMqtt.ConnectAsync(host, port, $"became/{values["--device"]}/infer", cancellationToken).ConfigureAwait(false);
            result = await MeasureAsync(options, ct => mqtt.RequestAsync(body, ct), cancellationToken).ConfigureAwait(false);
        }

        await output.WriteLineAsync(Format(options, batch, result)).ConfigureAwait(false);
        return result.Failed == 0 ? 0 : 1;
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
