using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Became.Core.Serialization;
using static TorchSharp.torch;

namespace Became.Core.Models;

/// <summary>A network body's starting weights read from a safetensors state dict (PyTorch names, e.g. one exported
/// from a pretrained module): <see cref="LoadInto"/> checks every body tensor strictly, then copies them all; entries
/// named <c>heads.*</c> are ignored, since every task's head is new.</summary>
public sealed class InitialWeights
{
    private const string HeadPrefix = MultiHeadNetwork.HeadsName + ".";

    private readonly SafeTensorsFile _file;

    private InitialWeights(string source, SafeTensorsFile file, string sha256)
    {
        Source = source;
        _file = file;
        Sha256 = sha256;
        HeadTensors = file.Tensors.Count(t => t.Name.StartsWith(HeadPrefix, StringComparison.Ordinal));
    }

    /// <summary>How messages name the file (the path as given).</summary>
    public string Source { get; }

    /// <summary>The file's sha256, lower-case hex: what a model's metadata records it by.</summary>
    public string Sha256 { get; }

    /// <summary>Entries named <c>heads.*</c>, ignored by <see cref="LoadInto"/>.</summary>
    public int HeadTensors { get; }

    /// <summary>Reads and parses the file at <paramref name="path"/>; throws <see cref="InitialWeightsException"/>
    /// when it does not exist, cannot be read or is no safetensors file.</summary>
    public static InitialWeights Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new InitialWeightsException(path, "does not exist");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new InitialWeightsException(path, $"cannot be read: {e.Message}");
        }

        return Parse(bytes, path);
    }

    /// <summary>Parses a safetensors payload named <paramref name="source"/> in messages; throws
    /// <see cref="InitialWeightsException"/> when it is no safetensors file.</summary>
    public static InitialWeights Parse(byte[] bytes, string source)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(source);
        try
        {
            return new InitialWeights(source, SafeTensorsFile.Parse(bytes), Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
        catch (SafeTensorsFormatException e)
        {
            throw new InitialWeightsException(source, $"is not a safetensors file: {e.Message}", e);
        }
    }

    /// <summary>Throws <see cref="InitialWeightsException"/> naming the first difference between the file and the body
    /// of <paramref name="network"/> (<paramref name="networkName"/> in the message, e.g. <c>resnet18:0.5</c>): a body
    /// tensor the file lacks, one of another shape or dtype (parameters are float32, buffers as the network keeps them,
    /// e.g. <c>num_batches_tracked</c> int64), a float value that is not finite, or a tensor the body has no place for.</summary>
    public void Check(IContinualNetwork network, string networkName)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(networkName);
        _ = Match(network, networkName);
    }

    /// <summary>Checks the file against <paramref name="network"/>'s body (<see cref="Check"/>) before anything is
    /// copied, then copies every body parameter and buffer from it; the heads are left as they are.</summary>
    public InitialWeightsLoad LoadInto(IContinualNetwork network, string networkName)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(networkName);
        var pairs = Match(network, networkName);
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            foreach (var (target, source) in pairs)
            {
                target.Tensor.copy_(SafeTensorsFile.ToTensor(source));
            }
        }

        return new InitialWeightsLoad(pairs.Count, HeadTensors);
    }

    /// <summary>Every body tensor with its entry in the file, once all of them are found equal in shape and dtype.</summary>
    private List<(NamedParameter Target, SafeTensor Source)> Match(IContinualNetwork network, string networkName)
    {
        var body = network.SharedParameters
            .Concat(network.Buffers.Where(b => !b.Name.StartsWith(HeadPrefix, StringComparison.Ordinal)))
            .ToList();
        var pairs = new List<(NamedParameter, SafeTensor)>(body.Count);
        foreach (var p in body)
        {
            var entry = _file.Find(p.Name) ?? throw Fail($"lacks {p.Name}");
            if (!entry.Shape.AsSpan().SequenceEqual(p.Tensor.shape))
            {
                throw Fail($"{p.Name} is {Shape(entry.Shape)} in the file but {Shape(p.Tensor.shape)} in {networkName}");
            }

            string dtype = SafeTensorsFile.DTypeOf(p.Tensor.dtype);
            if (entry.DType != dtype)
            {
                throw Fail($"{p.Name} is {entry.DType}; the network's is {dtype}");
            }

            if (!AllFinite(entry))
            {
                throw Fail($"{p.Name} holds a NaN or an infinity");
            }

            pairs.Add((p, entry));
        }

        var names = body.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        if (_file.Tensors.FirstOrDefault(t => !names.Contains(t.Name) && !t.Name.StartsWith(HeadPrefix, StringComparison.Ordinal)) is { } unknown)
        {
            throw Fail($"has unknown tensor {unknown.Name} ({networkName} has no such body tensor)");
        }

        return pairs;
    }

    private InitialWeightsException Fail(string detail) => new(Source, detail);

    private static bool AllFinite(SafeTensor entry) => entry.DType switch
    {
        SafeTensorDType.F32 => AllFinite(MemoryMarshal.Cast<byte, float>(entry.Data.Span)),
        SafeTensorDType.F64 => AllFinite(MemoryMarshal.Cast<byte, double>(entry.Data.Span)),
        _ => true,
    };

    private static bool AllFinite<T>(ReadOnlySpan<T> values)
        where T : System.Numerics.IFloatingPointIeee754<T>
    {
        foreach (var v in values)
        {
            if (!T.IsFinite(v))
            {
                return false;
            }
        }

        return true;
    }

    private static string Shape(ReadOnlySpan<long> shape) => $"[{string.Join(", ", shape.ToArray())}]";
}

/// <summary>What <see cref="InitialWeights.LoadInto"/> did.</summary>
/// <param name="BodyTensors">Body parameters and buffers copied from the file.</param>
/// <param name="IgnoredHeadTensors">Entries named <c>heads.*</c> left unused (heads always start new).</param>
public sealed record InitialWeightsLoad(int BodyTensors, int IgnoredHeadTensors);

/// <summary>Initial weights that cannot be read or do not fit the network: one line naming the file and the first
/// problem, e.g. <c>initial weights w.safetensors: lacks bn1.bias</c>.</summary>
public sealed class InitialWeightsException : Exception
{
    public InitialWeightsException(string file, string detail, Exception? innerException = null)
        : base($"initial weights {file}: {detail}", innerException)
    {
        File = file;
        Detail = detail;
    }

    /// <summary>The file as named in the message.</summary>
    public string File { get; }

    /// <summary>The problem, without the file's name.</summary>
    public string Detail { get; }
}
