using Became.Core.Models;
using Became.Core.Native;
using Became.Core.Projection;
using Became.Core.Training;
using Became.Protocol;
using Microsoft.Extensions.Options;

namespace Became.Agent.Configuration;

/// <summary>Checks the settings at start-up; every message names the setting (as a configuration key).</summary>
public sealed class AgentOptionsValidator : IValidateOptions<AgentOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentOptions options)
    {
        var errors = new List<string>();
        void Check(bool ok, string message)
        {
            if (!ok)
            {
                errors.Add(message);
            }
        }

        Check(TaskIdRules.IsValid(options.DeviceId, out _), $"DeviceId '{options.DeviceId}' must be 1-128 characters of letters, digits, '.', '_' or '-'.");
        Check(options.DeviceId != Topics.Groups, $"DeviceId '{Topics.Groups}' is reserved: {options.TopicRoot}/{Topics.Groups}/ holds the group topics.");
        foreach (string group in options.Groups)
        {
            Check(TaskIdRules.IsValid(group, out _), $"Groups: '{group}' must be 1-128 characters of letters, digits, '.', '_' or '-' (one topic level).");
        }

        Check(options.Groups.Distinct(StringComparer.OrdinalIgnoreCase).Count() == options.Groups.Length, "Groups names a group twice.");
        Check(!string.IsNullOrWhiteSpace(options.DataDirectory), "DataDirectory must name a folder.");
        Check(DeviceRequest.TryParse(options.Device, out _), $"Device '{options.Device}' is not one of auto, cpu, cuda, cuda:N.");
        Check(!string.IsNullOrWhiteSpace(options.TopicRoot) && !options.TopicRoot.Contains('+') && !options.TopicRoot.Contains('#'), "TopicRoot must be a topic without wildcards.");
        Check(options.Broker.Port is > 0 and < 65536, $"Broker:Port {options.Broker.Port} is not a TCP port.");
        Check(options.Broker.EmbeddedPort is >= 0 and < 65536, $"Broker:EmbeddedPort {options.Broker.EmbeddedPort} is not a TCP port (0 picks a free one).");
        Check(options.Broker.Password is null || options.Broker.Username is not null, "Broker:Password is set without Broker:Username.");
        errors.AddRange(BrokerTlsValidator.Validate(options.Broker));
        Check(options.Broker.ReconnectMaxSeconds is >= 1 and <= 3600, "Broker:ReconnectMaxSeconds must be between 1 and 3600.");
        Check(options.Adopt.ChunkBytes is >= 1024 and <= 256 * 1024 * 1024, "Adopt:ChunkBytes must be between 1024 and 268435456.");
        Check(options.Adopt.TimeoutSeconds is > 0 and <= 3600, "Adopt:TimeoutSeconds must be more than 0 and at most 3600.");
        Check(options.Model.InputShape.Length > 0 && options.Model.InputShape.All(d => d > 0), "Model:InputShape needs positive dimensions, e.g. [784] or [1, 28, 28].");
        Check(options.Model.HiddenSizes.Length > 0 && options.Model.HiddenSizes.All(d => d > 0), "Model:HiddenSizes needs at least one positive width.");
        Check(options.Model.NormalizationStd > 0 && double.IsFinite(options.Model.NormalizationStd), "Model:NormalizationStd must be a positive number.");
        Check(double.IsFinite(options.Model.NormalizationMean), "Model:NormalizationMean must be a number.");
        Check(ContinualMethod.All.Any(m => m.Name == options.Training.Method), $"Training:Method '{options.Training.Method}' is not one of {string.Join(", ", ContinualMethod.All.Select(m => m.Name))}.");
        Check(Became.Core.TaskAgnostic.TaskFeatures.TryParse(options.Training.TaskFeatures, out string? taskFeaturesProblem) is not null, $"Training:TaskFeatures {taskFeaturesProblem}");
        Check(options.Training.Epochs >= 1, "Training:Epochs must be at least 1.");
        Check(options.Training.BatchSize >= 1, "Training:BatchSize must be at least 1.");
        Check(options.Training.LearningRate > 0 && double.IsFinite(options.Training.LearningRate), "Training:LearningRate must be a positive number.");
        Check(options.Model.Family is not null, $"Model:Architecture '{options.Model.Architecture}' is not {string.Join(", ", NetworkFamilies.All.Select(f => f.Syntax))} (width a positive multiplier).");
        if (options.Model.Family is { } family && options.Model.InputShape.All(d => d > 0) && family.CheckInputShape(options.Model.InputShape.Select(d => (long)d).ToArray()) is { } shapeProblem)
        {
            errors.Add($"Model:InputShape: {shapeProblem}");
        }

        int layers = options.Model.SharedLayerCount;
        Check(options.Training.ThresholdIncrement is null or (>= 0 and < 1), "Training:ThresholdIncrement must lie in [0, 1).");
        Check(Core.Projection.ProjectionKind.TryParse(options.Training.Projection, out _), $"Training:Projection '{options.Training.Projection}' is not {Core.Projection.ProjectionKind.Names}.");
        Check(options.Training.SgpScale > 0 && double.IsFinite(options.Training.SgpScale), "Training:SgpScale must be a positive number.");
        errors.AddRange(MemoryProblems(options, layers));
        Check(options.Training.Fisher is "exact" or "batch", $"Training:Fisher '{options.Training.Fisher}' is not exact or batch.");
        Check(options.Training.Threads >= 1, "Training:Threads must be at least 1.");
        Check(options.Limits.MaxPayloadBytes >= 1024, "Limits:MaxPayloadBytes must be at least 1024.");
        Check(options.Limits.MaxQueuedTasks >= 1, "Limits:MaxQueuedTasks must be at least 1.");
        Check(options.Limits.MaxSamplesPerTask >= 2, "Limits:MaxSamplesPerTask must be at least 2.");
        Check(options.Jobs.RetryInitialSeconds > 0 && double.IsFinite(options.Jobs.RetryInitialSeconds), "Jobs:RetryInitialSeconds must be a positive number.");
        Check(options.Jobs.RetryMaxSeconds >= options.Jobs.RetryInitialSeconds && double.IsFinite(options.Jobs.RetryMaxSeconds), "Jobs:RetryMaxSeconds must be a number at least Jobs:RetryInitialSeconds.");
        Check(options.Limits.MaxRequestBytes >= 1024, "Limits:MaxRequestBytes must be at least 1024.");
        Check(options.Limits.MaxInferOutputs >= 2, "Limits:MaxInferOutputs must be at least 2 (one input of a two-class head).");
        Check(options.Gate.MaxForgettingPoints is >= 0 and <= 100, "Gate:MaxForgettingPoints must lie in [0, 100].");
        Check(options.Gate.MinNewTaskAccuracy is >= 0 and <= 100, "Gate:MinNewTaskAccuracy must lie in [0, 100].");
        foreach (string url in (options.HttpUrls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            Check(IsHttpUrl(url), $"HttpUrls '{url}' is not an absolute http:// or https:// URL with a port, e.g. http://127.0.0.1:8080 (';' between several).");
        }

        Check(options.HttpToken is null || options.HttpToken.Length >= 16, "HttpToken must be at least 16 characters.");
        Check(options.ShutdownSeconds is >= 1 and <= 600, "ShutdownSeconds must be between 1 and 600.");

        // Last, and only when every other setting holds: it builds the configured network once to check the file.
        if (errors.Count == 0 && !string.IsNullOrWhiteSpace(options.Model.InitialWeights) && InitialWeightsProblem(options.Model) is { } weightsProblem)
        {
            errors.Add(weightsProblem);
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    // Kestrel also takes the wildcard hosts * and + (every address); Uri does not, so they are checked as localhost.
    private static bool IsHttpUrl(string url)
    {
        string checkable = url.Replace("://*", "://localhost", StringComparison.Ordinal).Replace("://+", "://localhost", StringComparison.Ordinal);
        return Uri.TryCreate(checkable, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && uri.Host.Length > 0 && uri.AbsolutePath == "/";
    }

    // The file read and checked against the configured network, built once on the CPU for it.
    private static string? InitialWeightsProblem(ModelOptions model)
    {
        try
        {
            var weights = InitialWeights.Read(model.InitialWeights!);
            using var scope = TorchSharp.torch.NewDisposeScope();
            using var network = model.CreateNetwork(TorchSharp.torch.CPU, 0);
            weights.Check(network, model.NetworkDescription);
            return null;
        }
        catch (InitialWeightsException e)
        {
            return $"Model:InitialWeights: {e.Message}";
        }
    }

    // Core's own check of the memory settings (GpmOptions.Validate), its message under the setting it concerns.
    private static IEnumerable<string> MemoryProblems(AgentOptions options, int layers)
    {
        var training = options.Training;
        var checks = new (string Key, Func<GpmOptions> Options)[]
        {
            ("Training:Thresholds", () => new GpmOptions { Thresholds = training.Thresholds }),
            ("Training:MemorySamples", () => new GpmOptions { Thresholds = [0.5], Samples = training.MemorySamples }),
            ("Training:LayerSamples", () => new GpmOptions { Thresholds = [0.5], LayerSamples = training.LayerSamples.Length > 0 ? training.LayerSamples : null }),
        };
        foreach (var (key, memory) in checks)
        {
            string? problem = null;
            try
            {
                memory().Validate(layers);
            }
            catch (ArgumentException e)
            {
                problem = $"{key}: {e.Message}";
            }

            if (problem is not null)
            {
                yield return problem;
            }
        }
    }
}
