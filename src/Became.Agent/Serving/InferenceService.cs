using System.Text.Json;
using System.Text.Json.Serialization;
using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Intake;
using Became.Agent.Protocol;
using Became.Core.Models;
using Became.Core.Serialization;
using Became.Core.TaskAgnostic;
using Became.Protocol;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Agent.Serving;

/// <summary>Predictions of the deployed model: for one task's head, or without a task id for each input's predicted task.</summary>
/// <param name="Version">The model version that answered.</param>
/// <param name="TaskId">The task whose head was used; absent when the request named none.</param>
/// <param name="Predictions">Predicted class per input (within its task).</param>
/// <param name="Probabilities">Softmax probabilities per input, of the task's head.</param>
public sealed record InferenceResult(
    int Version,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? TaskId,
    long[] Predictions,
    float[][] Probabilities)
{
    /// <summary>Without a task id: the predicted task of each input.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string[]? Tasks { get; init; }

    /// <summary>Without a task id: p(task | x) × the head's probability of the predicted class, per input.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? Confidences { get; init; }
}

/// <summary>Runs inputs through the deployed model: scaled to [0,1] (uint8 / 255), normalised, forward, softmax.</summary>
public sealed class InferenceService(DeployedModel deployed, IOptions<AgentOptions> options)
{
    public const int MaxInputs = 10_000;


    private static readonly byte[] Utf8Bom = [0xEF, 0xBB, 0xBF];
    private readonly AgentOptions _options = options.Value;

    /// <summary>Parses a request (JSON or safetensors) and answers it: what both transports do with a payload.</summary>
    public InferenceResult Answer(ReadOnlyMemory<byte> payload)
    {
        var (taskId, inputs, count) = Parse(payload);
        return taskId is null ? PredictWithoutTask(inputs, count) : Predict(taskId, inputs, count);
    }

    /// <summary>Parses a request: JSON <c>{"taskId": "...", "inputs": [[...]]}</c> with values in [0,1], or safetensors
    /// with <c>x</c> (uint8 or float32, [N, ...]) and <c>__metadata__.taskId</c>; without a task id (null) the device
    /// says which task each input belongs to.</summary>
    public (string? TaskId, float[] Inputs, int Count) Parse(ReadOnlyMemory<byte> payload)
    {
        if (payload.Length > _options.Limits.MaxRequestBytes)
        {
            throw new RequestRejectedException(ErrorCodes.TooLarge, $"The request is {payload.Length} bytes; Limits:MaxRequestBytes is {_options.Limits.MaxRequestBytes}.");
        }

        int features = _options.Model.Features;
        if (LooksLikeSafeTensors(payload.Span))
        {
            SafeTensorsFile file;
            try
            {
                file = SafeTensorsFile.Parse(payload);
            }
            catch (FormatException e)
            {
                throw new RequestRejectedException(ErrorCodes.BadRequest, $"Invalid safetensors request: {e.Message}");
            }

            string? taskId = file.Metadata.GetValueOrDefault("taskId");
            var x = file.Find("x") ?? throw new RequestRejectedException(ErrorCodes.BadRequest, "The safetensors request needs a tensor x.");
            if (x.Shape.Length < 2 || x.Shape.Skip(1).Aggregate(1L, (a, b) => a * b) != features)
            {
                throw new RequestRejectedException(ErrorCodes.BadShape, $"x has shape [{string.Join(", ", x.Shape)}]; expected [N, {features}] values per input.");
            }

            // Before copying: the count must be servable, whatever the payload's size.
            CheckCount(x.Shape[0]);
            int count = (int)x.Shape[0];
            var values = x.DType switch
            {
                SafeTensorDType.U8 => x.Data.ToArray().Select(b => b / 255f).ToArray(),
                SafeTensorDType.F32 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(x.Data.Span).ToArray(),
                _ => throw new RequestRejectedException(ErrorCodes.BadDtype, $"x is {x.DType}; send U8 or F32."),
            };
            return (taskId, values, count);
        }

        var json = SkipBomAndWhitespace(payload);
        if (json.IsEmpty || json.Span[0] is not ((byte)'{' or (byte)'['))
        {
            throw new RequestRejectedException(ErrorCodes.BadRequest, "Neither JSON nor safetensors: send {\"taskId\": \"...\", \"inputs\": [[...], ...]} or a safetensors file.");
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new RequestRejectedException(ErrorCodes.BadRequest, "The request must be a JSON object {\"taskId\": \"...\", \"inputs\": [[...], ...]}.");
            }

            string? taskId = !root.TryGetProperty("taskId", out var t) || t.ValueKind == JsonValueKind.Null
                ? null
                : t.ValueKind == JsonValueKind.String ? t.GetString()! : throw new RequestRejectedException(ErrorCodes.BadRequest, "\"taskId\" must be a string (or absent, to ask which task each input belongs to).");
            if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
            {
                throw new RequestRejectedException(ErrorCodes.BadRequest, "The request needs \"inputs\": [[...], ...].");
            }

            CheckCount(inputs.GetArrayLength());
            var rows = inputs.EnumerateArray().ToList();
            var values = new float[(long)rows.Count * features];
            for (int i = 0; i < rows.Count; i++)
            {
                if (rows[i].ValueKind != JsonValueKind.Array || rows[i].GetArrayLength() != features)
                {
                    throw new RequestRejectedException(ErrorCodes.BadShape, $"inputs[{i}] must be an array of {features} numbers in [0, 1].");
                }

                int j = 0;
                foreach (var v in rows[i].EnumerateArray())
                {
                    values[(long)i * features + j++] = v.GetSingle();
                }
            }

            return (taskId, values, rows.Count);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new RequestRejectedException(ErrorCodes.BadRequest, $"Invalid JSON request: {e.Message}");
        }
    }

    /// <summary>
    /// A safetensors file starts with its header's length (8 bytes, little-endian) and the header, a JSON object. JSON
    /// text cannot look like that: its first 8 bytes are printable, so read as a length they exceed any payload.
    /// </summary>
    private static bool LooksLikeSafeTensors(ReadOnlySpan<byte> payload) =>
        payload.Length >= 10
        && System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(payload) is var length
        && length >= 2 && length <= (ulong)(payload.Length - 8)
        && payload[8] == (byte)'{';

    /// <summary>JSON text as sent by many tools: an optional UTF-8 byte order mark, then optional whitespace.</summary>
    private static ReadOnlyMemory<byte> SkipBomAndWhitespace(ReadOnlyMemory<byte> payload)
    {
        if (payload.Span.StartsWith(Utf8Bom))
        {
            payload = payload[Utf8Bom.Length..];
        }

        int start = 0;
        var span = payload.Span;
        while (start < span.Length && span[start] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            start++;
        }

        return payload[start..];
    }

    /// <summary>Non-finite inputs, and inputs too far outside [0, 1] to be scaled pixels, are refused.</summary>
    private void CheckValues(float[] inputs)
    {
        int features = _options.Model.Features;
        for (int i = 0; i < inputs.Length; i++)
        {
            float v = inputs[i];
            if (!float.IsFinite(v))
            {
                throw new RequestRejectedException(ErrorCodes.NonFinite, $"Inputs contain NaN or infinite values (input {i / features}, value {i % features}).");
            }

            if (!InputRange.Contains(v))
            {
                throw new RequestRejectedException(ErrorCodes.OutOfRange,
                    $"Input {i / features} has {v.ToString(System.Globalization.CultureInfo.InvariantCulture)} at value {i % features}; inputs are pixels scaled to [0, 1] " +
                    $"({InputRange.Advice} safetensors).");
            }
        }
    }

    private static void CheckCount(long count)
    {
        if (count < 1 || count > MaxInputs)
        {
            throw new RequestRejectedException(ErrorCodes.BadShape, $"Send between 1 and {MaxInputs} inputs; got {count}.");
        }
    }

    /// <summary>The snapshot's network, when it can answer <paramref name="count"/> inputs.</summary>
    private static IContinualNetwork ServingNetwork(DeployedSnapshot snapshot, int count)
    {
        var network = snapshot.Network ?? throw new RequestRejectedException(ErrorCodes.NoModel, "No model is deployed yet.");
        if (count < network.MinimumBatch)
        {
            // AlexNet's batch norm normalises with the request's own statistics (as the reference does).
            throw new RequestRejectedException(ErrorCodes.BadShape, $"The deployed network normalises with batch statistics: send at least {network.MinimumBatch} inputs; got {count}.");
        }

        return network;
    }

    /// <summary>The inputs as the network reads them: [N, features] on its device, normalised.</summary>
    private Tensor Normalised(float[] inputs, int count, Device device) =>
        tensor(inputs, [count, _options.Model.Features], device: device)
            .sub_(_options.Model.NormalizationMean).div_(_options.Model.NormalizationStd);

    /// <summary>Refuses a reply of more than Limits:MaxInferOutputs probabilities, before the forward pass.</summary>
    private void CheckOutputs(int count, int classes, string what)
    {
        long outputs = (long)count * classes;
        if (outputs > _options.Limits.MaxInferOutputs)
        {
            long most = _options.Limits.MaxInferOutputs / classes;
            throw new RequestRejectedException(ErrorCodes.TooLarge,
                $"{count} inputs x {classes} classes = {outputs} probabilities; Limits:MaxInferOutputs is {_options.Limits.MaxInferOutputs}" +
                (most > 0 ? $": send at most {most} inputs per request {what}." : "."));
        }
    }

    /// <summary>Predicts without a task id: each input's task from the version's class statistics (which task's
    /// classes its features fit best), its class from that task's head.</summary>
    public InferenceResult PredictWithoutTask(float[] inputs, int count)
    {
        CheckCount(count);
        CheckValues(inputs);

        using var lease = deployed.Acquire();
        var snapshot = lease.Snapshot;
        var network = ServingNetwork(snapshot, count);
        var statistics = snapshot.ClassStatistics ?? throw new RequestRejectedException(ErrorCodes.NoTaskStatistics,
            $"The deployed model (version {snapshot.Version}) keeps no class statistics for every task, so it cannot tell tasks apart: name the task with \"taskId\" (it knows: {string.Join(", ", snapshot.TaskIds)}).");
        CheckOutputs(count, network.HeadClasses.Max(), "without a task id");

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var answers = TaskAgnosticInference.Answer(network, statistics, Normalised(inputs, count, network.Device));
        if (!answers.All(a => double.IsFinite(a.Confidence) && Array.TrueForAll(a.Probabilities, float.IsFinite)))
        {
            throw new RequestRejectedException(ErrorCodes.NonFinite, $"The model (version {snapshot.Version}) gives non-finite probabilities for these inputs.");
        }

        return new InferenceResult(snapshot.Version, null, answers.Select(a => (long)a.Prediction).ToArray(), answers.Select(a => a.Probabilities).ToArray())
        {
            Tasks = answers.Select(a => snapshot.TaskIds[a.Task]).ToArray(),
            Confidences = answers.Select(a => Math.Round(a.Confidence, 6)).ToArray(),
        };
    }

    /// <summary>Predicts with the head of <paramref name="taskId"/>.</summary>
    public InferenceResult Predict(string taskId, float[] inputs, int count)
    {
        CheckCount(count);
        CheckValues(inputs);

        using var lease = deployed.Acquire();
        var snapshot = lease.Snapshot;
        var network = ServingNetwork(snapshot, count);
        int head = IndexOf(snapshot.TaskIds, taskId);
        if (head < 0)
        {
            throw new RequestRejectedException(ErrorCodes.UnknownTask, $"The deployed model (version {snapshot.Version}) does not know task '{taskId}'; it knows: {string.Join(", ", snapshot.TaskIds)}.");
        }

        // Before the forward pass: the reply must stay small enough to build, send and carry.
        int classes = network.HeadClasses[head];
        CheckOutputs(count, classes, $"for task '{taskId}'");

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = Normalised(inputs, count, network.Device);

        // Read back on the CPU: data<T>() needs host memory.
        var probabilities = F.softmax(network.Forward(x, head), 1).cpu();
        var flat = probabilities.data<float>().ToArray();
        if (!Array.TrueForAll(flat, float.IsFinite))
        {
            // No JSON can carry NaN; say so instead of failing to serialise the reply.
            throw new RequestRejectedException(ErrorCodes.NonFinite, $"The model (version {snapshot.Version}) gives non-finite probabilities for these inputs.");
        }

        var predictions = probabilities.argmax(1).data<long>().ToArray();
        var rows = Enumerable.Range(0, count).Select(i => flat.AsSpan(i * classes, classes).ToArray()).ToArray();
        return new InferenceResult(snapshot.Version, taskId, predictions, rows);
    }

    private static int IndexOf(IReadOnlyList<string> ids, string id)
    {
        for (int i = 0; i < ids.Count; i++)
        {
            if (ids[i] == id)
            {
                return i;
            }
        }

        return -1;
    }
}
