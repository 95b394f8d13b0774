using System.CommandLine;
using System.Globalization;
using Became.Core.Data;
using Became.Core.Serialization;
using Became.Protocol;

namespace Became.Cli.Tools;

/// <summary><c>became publish</c>: checks tasks locally, sends a benchmark stream or one task file to a device over
/// MQTT, and with <c>--wait</c> follows the device's events until each task is accepted (or deployed).</summary>
public static class PublishCommand
{
    /// <summary>Runs <c>became publish ARGS</c>.</summary>
    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        BecameCli.RunAsync(["publish", .. args], output, error, cancellationToken);

    /// <summary>Why a task file would be rejected by any device (id rules, safetensors structure, x/y dtypes, shapes and
    /// counts), or null when it passes. Without <paramref name="features"/> the per-sample size is not checked: only the
    /// device knows its input shape.</summary>
    public static string? CheckTask(string taskId, ReadOnlyMemory<byte> payload, int? features = null)
    {
        if (!TaskIdRules.IsValid(taskId, out string idProblem))
        {
            return $"invalid_id: {idProblem}";
        }

        int perSample = features ?? 1;
        if (features is null)
        {
            try
            {
                // Take x's own per-sample size, so the format checks everything but the device's input size.
                var x = SafeTensorsFile.Parse(payload).Find("x");
                if (x is { Shape.Length: >= 2 })
                {
                    perSample = (int)Math.Clamp(x.Shape.Skip(1).Aggregate(1L, (a, d) => a * d), 1, int.MaxValue);
                }
            }
            catch (SafeTensorsFormatException)
            {
                // The format below names it.
            }
        }

        try
        {
            TaskPayloadFormats.Default.Inspect(payload, new TaskPayloadLimits(perSample, long.MaxValue, int.MaxValue));
            return null;
        }
        catch (TaskRejectedException e)
        {
            return $"{e.Reason}: {e.Message}";
        }
    }

    internal static Command Create()
    {
        var broker = CommonOptions.Broker();
        broker.Required = true;
        var device = CommonOptions.Device();
        var group = new Option<string>("--group") { Description = "send to every device of group G (became/groups/G/tasks/...) instead of one --device", HelpName = "G" };
        var stream = new Option<string>("--stream") { Description = "a benchmark stream to send as tasks", HelpName = "STREAM" }.AcceptOnlyFromAmong("split-fmnist");
        var tasks = new Option<string>("--tasks") { Description = "which tasks of the stream, e.g. 0,1 (default all)", HelpName = "LIST" };
        var samples = new Option<int>("--samples") { Description = "at most N training images per task", HelpName = "N" }.AtLeast(2);
        var data = new Option<string>("--data") { Description = "MNIST-format IDX directory", HelpName = "DIR", DefaultValueFactory = _ => ImageClassificationDataset.FashionMnistDirectory };
        var idPrefix = new Option<string>("--id-prefix") { Description = "task ids are PREFIX-0, PREFIX-1, ...", HelpName = "PREFIX", DefaultValueFactory = _ => "split-fmnist" };
        var file = new Option<string>("--file") { Description = "one task file: safetensors with x [N, ...] (uint8 or float32) and y [N] (integer labels)", HelpName = "FILE" };
        var taskId = new Option<string>("--task-id") { Description = "the id of the --file task", HelpName = "ID" };
        var features = new Option<int?>("--features") { Description = "the device's values per sample (e.g. 784), to check --file against it too", HelpName = "N" };
        var topicRoot = CommonOptions.TopicRoot();
        var wait = new Option<string>("--wait")
        {
            Description = "follow the device's events: 'accepted' (the default) waits until every task is accepted, 'deployed' until each is learned and deployed; exit 1 if the device rejects one",
            HelpName = "accepted|deployed",
            Arity = ArgumentArity.ZeroOrOne,
        }.AcceptOnlyFromAmong("accepted", "deployed");
        var timeout = new Option<double>("--timeout") { Description = "seconds --wait waits in all (default 600)", HelpName = "SECONDS", DefaultValueFactory = _ => 600 }.Positive();

        var login = new BrokerLoginOptions();
        var command = new Command("publish", "send tasks to a device over MQTT (checked locally first)")
        {
            broker, device, group, stream, tasks, samples, data, idPrefix, file, taskId, features, topicRoot, wait, timeout,
        };
        login.AddTo(command);
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var (output, error) = (parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error);
            var account = login.Read(parsed);
            string? groupName = parsed.GetValue(group);
            string deviceId = (parsed.GetValue(device), groupName) switch
            {
                (null, null) or (not null, not null) => throw new UsageException("give --device ID or --group G (one of them); nothing was sent"),
                (null, _) when parsed.GetResult(wait) is not null => throw new UsageException("--wait follows one device; with --group watch the group with 'became fleet status --group G --watch'"),
                (string id, null) => id,
                _ => groupName,
            };
            if (!TaskIdRules.IsValid(deviceId, out string deviceProblem))
            {
                throw new UsageException($"{(groupName is null ? "--device" : "--group")} '{deviceId}': {deviceProblem.Replace("task id", groupName is null ? "device id" : "group", StringComparison.Ordinal)}; nothing was sent");
            }

            // A group's tasks lie at {root}/groups/{G}/tasks/{id}, where a device's lie at {root}/{device}/tasks/{id}.
            string root = parsed.GetRequiredValue(topicRoot);
            var destination = groupName is null ? TaskDestination.Device(root, deviceId) : TaskDestination.Group(root, groupName);

            var (host, port) = BrokerAddress.Parse(parsed.GetRequiredValue(broker));
            IReadOnlyList<(string, byte[])> payloads = parsed.GetValue(file) is string path
                ? [await ReadFileTaskAsync(path, parsed.GetValue(taskId), parsed.GetValue(stream) is not null, parsed.GetValue(features), cancellationToken).ConfigureAwait(false)]
                : StreamTasks(parsed.GetValue(stream), parsed.GetValue(tasks), parsed.GetResult(samples) is null ? null : parsed.GetValue(samples), parsed.GetRequiredValue(data), parsed.GetRequiredValue(idPrefix));

            var waitFor = parsed.GetResult(wait) is null ? PublishWait.None
                : parsed.GetValue(wait) == "deployed" ? PublishWait.Deployed : PublishWait.Accepted;
            try
            {
                return await TaskPublisher.PublishAsync(host, port, destination, payloads, output, error, waitFor, TimeSpan.FromSeconds(parsed.GetValue(timeout)), account, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or MQTTnet.Exceptions.MqttCommunicationException)
            {
                await error.WriteLineAsync($"became publish: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        });
        return command;
    }

    private static async Task<(string, byte[])> ReadFileTaskAsync(string path, string? taskId, bool streamToo, int? features, CancellationToken cancellationToken)
    {
        if (streamToo)
        {
            throw new UsageException("give --stream or --file, not both");
        }

        if (taskId is null)
        {
            throw new UsageException("--file needs --task-id ID");
        }

        byte[] payload;
        try
        {
            payload = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--file: {e.Message}");
        }

        return CheckTask(taskId, payload, features) is string problem
            ? throw new UsageException($"{path} as task '{taskId}' would be rejected ({problem}); nothing was sent")
            : (taskId, payload);
    }

    private static IReadOnlyList<(string, byte[])> StreamTasks(string? stream, string? list, int? samples, string data, string prefix)
    {
        if (stream is null)
        {
            throw new UsageException("give --stream split-fmnist, or --file FILE --task-id ID");
        }

        var selected = list?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : throw new UsageException($"--tasks: '{s}' is not a task number"))
            .ToList();
        ImageClassificationDataset dataset;
        try
        {
            dataset = ImageClassificationDataset.Load(data);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new UsageException($"--data: {e.Message}");
        }

        try
        {
            var tasks = TaskFiles.SplitFashionMnist(dataset, selected, samples, prefix);
            foreach (var (id, _) in tasks)
            {
                if (!TaskIdRules.IsValid(id, out string reason))
                {
                    throw new UsageException($"--id-prefix '{prefix}' makes task id '{id}': {reason}; nothing was sent");
                }
            }

            return tasks;
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--tasks: {e.Message}");
        }
    }
}
