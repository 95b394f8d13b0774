using static TorchSharp.torch;

namespace Became.Core.Merging;

/// <summary>The accumulated Fisher information of earlier tasks: F_old &lt;- F(merged on task t) + gamma F_old.</summary>
public sealed class FisherMemory : IDisposable
{
    private readonly Dictionary<string, Tensor> _values = [];

    public FisherMemory(double gamma = 1.0)
    {
        if (gamma is < 0 or > 1 || double.IsNaN(gamma))
        {
            throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "gamma must lie in [0, 1].");
        }

        Gamma = gamma;
    }

    public double Gamma { get; }

    public IReadOnlyDictionary<string, Tensor> Values => _values;

    /// <summary>Adds a new task's Fisher (taking ownership of its tensors) after decaying the old by gamma.</summary>
    public void Accumulate(Dictionary<string, Tensor> taskFisher)
    {
        using var noGrad = no_grad();
        foreach (var value in _values.Values)
        {
            value.mul_(Gamma);
        }

        foreach (var (name, value) in taskFisher)
        {
            if (_values.TryGetValue(name, out var existing))
            {
                existing.add_(value);
                value.Dispose();
            }
            else
            {
                _values[name] = value;
            }
        }
    }

    /// <summary>Replaces the stored values (e.g. when loading saved state); takes ownership.</summary>
    public void Load(IReadOnlyDictionary<string, Tensor> values)
    {
        Clear();
        foreach (var (name, value) in values)
        {
            _values[name] = value;
        }
    }

    public void Dispose() => Clear();

    private void Clear()
    {
        foreach (var value in _values.Values)
        {
            value.Dispose();
        }

        _values.Clear();
    }
}
