using System.Diagnostics;

namespace Became.Core.Training;

/// <summary>Wall-clock and process CPU seconds per phase of learning (stage 1, stage 2, Fisher, memory, evaluation...),
/// summed over tasks: where a run's time goes. CPU is the whole process's (both cores; on a loaded machine it is the
/// steadier figure).</summary>
public sealed class PhaseClock
{
    private readonly Dictionary<string, double> _seconds = [];
    private readonly Dictionary<string, double> _cpu = [];
    private readonly Lock _lock = new();

    /// <summary>Seconds per phase, in the order the phases were first seen.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> Seconds
    {
        get
        {
            lock (_lock)
            {
                return _seconds.ToList();
            }
        }
    }

    /// <summary>Process CPU seconds per phase, in the order the phases were first seen.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> CpuSeconds
    {
        get
        {
            lock (_lock)
            {
                return _cpu.ToList();
            }
        }
    }

    /// <summary>Adds <paramref name="seconds"/> (and <paramref name="cpuSeconds"/>) to <paramref name="phase"/>.</summary>
    public void Add(string phase, double seconds, double cpuSeconds = 0)
    {
        lock (_lock)
        {
            _seconds[phase] = _seconds.GetValueOrDefault(phase) + seconds;
            _cpu[phase] = _cpu.GetValueOrDefault(phase) + cpuSeconds;
        }
    }

    /// <summary>Starts timing a phase; disposing the result adds the elapsed wall and CPU time.</summary>
    public Timing Start(string phase) => new(this, phase);

    /// <summary>A phase being timed.</summary>
    public readonly struct Timing(PhaseClock clock, string phase) : IDisposable
    {
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly TimeSpan _cpu = Environment.CpuUsage.TotalTime;

        public void Dispose() => clock.Add(phase, Stopwatch.GetElapsedTime(_start).TotalSeconds, (Environment.CpuUsage.TotalTime - _cpu).TotalSeconds);
    }

    /// <summary>Runs <paramref name="work"/> and adds its wall-clock time to <paramref name="phase"/>.</summary>
    public T Time<T>(string phase, Func<T> work)
    {
        using var timing = Start(phase);
        return work();
    }

    /// <summary>One line: "stage1 3.10 s (CPU 3.05 s), stage2 ...".</summary>
    public static string Format(IEnumerable<KeyValuePair<string, double>> phases, IEnumerable<KeyValuePair<string, double>> cpu)
    {
        var cpuOf = cpu.ToDictionary(p => p.Key, p => p.Value);
        return string.Join(", ", phases.Select(p => FormattableString.Invariant($"{p.Key} {p.Value:0.00} s (CPU {cpuOf.GetValueOrDefault(p.Key):0.00} s)")));
    }
}
