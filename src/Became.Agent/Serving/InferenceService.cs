using System.Text.Json;
using Became.Agent.Configuration;
using Became.Core.Serialization;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Agent.Serving;

/// <summary>Predictions of the deployed model for one task's head.</summary>
/// <param name="Version">The model version that answered.</param>
/// <param name="TaskId">The task whose head was used.</param>
/// <param name="Predictions">Predicted class per input.</param>
/// <param name="Probabilities">Softmax probabilities per input.</param>
public sealed record InferenceResult(int Version, string TaskId, long[] Predictions, float[][] Probabilities);

/// <summary>A request the device cannot answer, with a machine code and a human message.</summary>
public sealed class RequestRejectedException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}

/// <summary>Runs inputs through the deployed model: scaled to [0,1] (uint8 / 255), normalised, forward, softmax.</summary>
public sealed class InferenceService(DeployedModel deployed, IOptions<AgentOptions> options)
{
    public const int MaxInputs = 10_000;
    private readonly AgentOptions _options = options.Value;

    /// <summary>Parses a request: JSON <c>{"taskId": "...", "inputs": [[...]]}</c> with values in [0,1], or safetensors
    /// with <c>x</c> (uint8 or float32, [N, ...]) and <c>__metadata__.taskId</c>.</summary>
    public (string TaskId, float[] Inputs, int Count) Parse(ReadOnlyMemory<byte> payload)
    {
        if (payload.Length > _options.Limits.MaxRequestBytes)
        {
            throw new RequestRejectedException("too_large", $"The request is {payload.Length} bytes; Limits:MaxRequestBytes is {_options.Limits.MaxRequestBytes}.");
        }

        int features = _options.Model.Features;
        if (payload.Length >= 8 && payload.Span[0] != (byte)'{')
        {
            SafeTensorsFile file;
            try
            {
                file = SafeTensorsFile.Parse(payload);
            }
            catch (FormatException e)
            {
                throw new RequestRejectedException("bad_request", $"Neither JSON nor safetensors: {e.Message}");
            }

            string taskId = file.Metadata.GetValueOrDefault("taskId") ?? throw new RequestRejectedException("bad_request", "The safetensors request needs __metadata__.taskId.");
            var x = file.Find("x") ?? throw new RequestRejectedException("bad_request", "The safetensors request needs a tensor x.");
            if (x.Shape.Length < 2 || x.Shape.Skip(1).Aggregate(1L, (a, b) => a * b) != features)
            {
                throw new RequestRejectedException("bad_shape", $"x has shape [{string.Join(", ", x.Shape)}]; expected [N, {features}] values per input.");
            }

            // Before copying: the count must be servable, whatever the payload's size.
            CheckCount(x.Shape[0]);
            int count = (int)x.Shape[0];
            var values = x.DType switch
            {
                SafeTensorDType.U8 => x.Data.ToArray().Select(b => b / 255f).ToArray(),
                SafeTensorDType.F32 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(x.Data.Span).ToArray(),
                _ => throw new RequestRejectedException("bad_dtype", $"x is {x.DType}; send U8 or F32."),
            };
            return (taskId, values, count);
        }

        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            string taskId = root.TryGetProperty("taskId", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : throw new RequestRejectedException("bad_request", "The request needs \"taskId\".");
            if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
            {
                throw new RequestRejectedException("bad_request", "The request needs \"inputs\": [[...], ...].");
            }

            CheckCount(inputs.GetArrayLength());
            var rows = inputs.EnumerateArray().ToList();
            var values = new float[(long)rows.Count * features];
            for (int i = 0; i < rows.Count; i++)
            {
                if (rows[i].ValueKind != JsonValueKind.Array || rows[i].GetArrayLength() != features)
                {
                    throw new RequestRejectedException("bad_shape", $"inputs[{i}] must be an array of {features} numbers in [0, 1].");
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
            throw new RequestRejectedException("bad_request", $"Invalid JSON request: {e.Message}");
        }
    }

    private static void CheckCount(long count)
    {
        if (count < 1 || count > MaxInputs)
        {
            throw new RequestRejectedException("bad_shape", $"Send between 1 and {MaxInputs} inputs; got {count}.");
        }
    }

    /// <summary>Predicts with the head of <paramref name="taskId"/>.</summary>
    public InferenceResult Predict(string taskId, float[] inputs, int count)
    {
        CheckCount(count);
        if (inputs.Any(v => !float.IsFinite(v)))
        {
            throw new RequestRejectedException("non_finite", "Inputs contain NaN or infinite values.");
        }

        using var lease = deployed.Acquire();
        var snapshot = lease.Snapshot;
        if (snapshot.Network is null)
        {
            throw new RequestRejectedException("no_model", "No model is deployed yet.");
        }

        if (count < snapshot.Network.MinimumBatch)
        {
            // AlexNet's batch norm normalises with the request's own statistics (as the reference does).
            throw new RequestRejectedException("bad_shape", $"The deployed network normalises with batch statistics: send at least {snapshot.Network.MinimumBatch} inputs; got {count}.");
        }

        int head = IndexOf(snapshot.TaskIds, taskId);
        if (head < 0)
        {
            throw new RequestRejectedException("unknown_task", $"The deployed model (version {snapshot.Version}) does not know task '{taskId}'; it knows: {string.Join(", ", snapshot.TaskIds)}.");
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = tensor(inputs, [count, _options.Model.Features], device: snapshot.Network.Device)
            .sub_(_options.Model.NormalizationMean).div_(_options.Model.NormalizationStd);

        // Read back on the CPU: data<T>() needs host memory.
        var probabilities = F.softmax(snapshot.Network.Forward(x, head), 1).cpu();
        var predictions = probabilities.argmax(1).data<long>().ToArray();
        var flat = probabilities.data<float>().ToArray();
        int classes = (int)probabilities.shape[1];
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
