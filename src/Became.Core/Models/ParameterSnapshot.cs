using static TorchSharp.torch;

namespace Became.Core.Models;

/// <summary>A detached copy of named parameter values (a state dict), e.g. the best or the stable weights.</summary>
public sealed class ParameterSnapshot : IDisposable
{
    private readonly Dictionary<string, Tensor> _values;

    private ParameterSnapshot(Dictionary<string, Tensor> values) => _values = values;

    public IReadOnlyDictionary<string, Tensor> Values => _values;

    /// <summary>Copies the current values of the given parameters.</summary>
    public static ParameterSnapshot Take(IEnumerable<NamedParameter> parameters)
    {
        using var noGrad = no_grad();
        return new ParameterSnapshot(parameters.ToDictionary(p => p.Name, p => p.Tensor.detach().clone().DetachFromDisposeScope()));
    }

    /// <summary>Writes the stored values back into the matching parameters.</summary>
    public void Restore(IEnumerable<NamedParameter> parameters)
    {
        using var noGrad = no_grad();
        foreach (var p in parameters)
        {
            if (_values.TryGetValue(p.Name, out var value))
            {
                p.Tensor.copy_(value);
            }
        }
    }

    public void Dispose()
    {
        foreach (var value in _values.Values)
        {
            value.Dispose();
        }
    }
}
