using System.Globalization;
using Became.Core.Data;

namespace Became.Agent.Hosting;

/// <summary><c>became publish</c>: sends a benchmark stream, or one task file, to a device over MQTT.</summary>
public static class PublishCommand
{
    public const string Usage = """
        became publish --broker HOST:PORT --device ID (--stream split-fmnist [--tasks 0,1] [--samples N] [--data DIR] [--id-prefix P]
                       | --file x.safetensors --task-id ID) [--topic-root became]
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] is "--help" or "-h")
            {
                await output.WriteLineAsync(Usage).ConfigureAwait(false);
                return 0;
            }

            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
            {
                await error.WriteLineAsync($"became publish: '{args[i]}' needs a value.{Environment.NewLine}{Usage}").ConfigureAwait(false);
                return 2;
            }

            values[args[i]] = args[++i];
        }

        try
        {
            string broker = values.GetValueOrDefault("--broker") ?? throw new ArgumentException("--broker HOST:PORT is required.");
            string device = values.GetValueOrDefault("--device") ?? throw new ArgumentException("--device ID is required.");
            var (host, port) = BrokerAddress.Parse(broker);
            IReadOnlyList<(string, byte[])> tasks;
            if (values.TryGetValue("--file", out string? file))
            {
                string id = values.GetValueOrDefault("--task-id") ?? throw new ArgumentException("--file needs --task-id ID.");
                tasks = [(id, await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false))];
            }
            else
            {
                string stream = values.GetValueOrDefault("--stream") ?? throw new ArgumentException("Give --stream split-fmnist or --file FILE --task-id ID.");
                if (stream != "split-fmnist")
                {
                    throw new ArgumentException($"--stream {stream}: only split-fmnist can be published as tasks.");
                }

                var dataset = ImageClassificationDataset.Load(values.GetValueOrDefault("--data") ?? ImageClassificationDataset.FashionMnistDirectory);
                var selected = values.TryGetValue("--tasks", out string? list)
                    ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList()
                    : null;
                int? samples = values.TryGetValue("--samples", out string? s) ? int.Parse(s, CultureInfo.InvariantCulture) : null;
                tasks = TaskFiles.SplitFashionMnist(dataset, selected, samples, values.GetValueOrDefault("--id-prefix") ?? "split-fmnist");
            }

            await TaskPublisher.PublishAsync(host, port, values.GetValueOrDefault("--topic-root") ?? "became", device, tasks, output, cancellationToken).ConfigureAwait(false);
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or InvalidDataException or MQTTnet.Exceptions.MqttCommunicationException)
        {
            await error.WriteLineAsync($"became publish: {e.Message}").ConfigureAwait(false);
            return e is ArgumentException or FormatException ? 2 : 1;
        }
    }
}
