using Became.Agent.Configuration;
using Became.Core.Data;
using Became.Protocol;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Hosting;

/// <summary>`became run --demo split-fmnist`: once the agent is up, feeds it the stream over MQTT like an
/// external client; the worker then logs each deployed model's accuracy on every task so far.</summary>
public sealed class DemoFeeder(BrokerEndpoint endpoint, IOptions<AgentOptions> options, IConfiguration configuration, ILogger<DemoFeeder> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        string stream = configuration["Demo:Stream"] ?? "split-fmnist";
        if (stream != "split-fmnist")
        {
            logger.LogError("--demo {Stream}: only split-fmnist is available as a demo stream", stream);
            return;
        }

        int? samples = int.TryParse(configuration["Demo:SamplesPerTask"], out int n) && n > 0 ? n : null;
        string directory = configuration["Demo:Data"] ?? ImageClassificationDataset.FashionMnistDirectory;
        var dataset = ImageClassificationDataset.Load(directory);
        var tasks = TaskFiles.SplitFashionMnist(dataset, null, samples);
        var agent = options.Value;
        logger.LogInformation("Demo: publishing {Count} split-fmnist tasks to {Host}:{Port}", tasks.Count, endpoint.Host, endpoint.Port);
        await TaskPublisher.PublishAsync(endpoint.Host, endpoint.Port, agent.TopicRoot, agent.DeviceId, tasks, new LogWriter(logger), stoppingToken).ConfigureAwait(false);
    }

    private sealed class LogWriter(ILogger logger) : StringWriter(System.Globalization.CultureInfo.InvariantCulture)
    {
        public override Task WriteLineAsync(string? value)
        {
            // Each task's acceptance is the agent's own line right after; the publisher's echo of it is detail.
            logger.LogDebug("Demo: {Line}", value);
            return Task.CompletedTask;
        }
    }
}
