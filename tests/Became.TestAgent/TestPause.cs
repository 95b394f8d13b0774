using Became.Agent.Jobs;
using Microsoft.Extensions.Logging;

namespace Became.TestAgent;

/// <summary>
/// Lets a crash test stop the worker at a named point so it can kill the process there. Set
/// <c>BECAME_TEST_PAUSE_AT=point[:taskId]</c> (point: stage1, stage2, commit or swap: <see cref="IJobCheckpoints"/>) and
/// <c>BECAME_TEST_PAUSE_MARKER=/path/file</c>: the first time the worker reaches that point (for that task), it writes
/// the marker file and waits until the file is deleted or the agent stops. Inert when either variable is unset.
/// </summary>
internal sealed class TestPause : IJobCheckpoints
{
    private readonly string? _point;
    private readonly string? _taskId;
    private readonly string? _marker;
    private int _fired;

    private readonly ILogger _logger;

    private TestPause(string? point, string? taskId, string? marker, ILogger logger)
    {
        _logger = logger;
        _point = point;
        _taskId = taskId;
        _marker = marker;
    }

    public bool Enabled => _point is not null && _marker is not null;

    /// <summary>The pause the environment sets (inert when it sets none).</summary>
    public static TestPause FromEnvironment(ILogger logger)
    {
        string? at = Environment.GetEnvironmentVariable("BECAME_TEST_PAUSE_AT");
        string? marker = Environment.GetEnvironmentVariable("BECAME_TEST_PAUSE_MARKER");
        if (string.IsNullOrWhiteSpace(at) || string.IsNullOrWhiteSpace(marker))
        {
            return new TestPause(null, null, null, logger);
        }

        var parts = at.Split(':', 2);
        return new TestPause(parts[0], parts.Length > 1 ? parts[1] : null, marker, logger);
    }

    /// <summary>Blocks the calling thread here if this is the configured point (and task), once per process.</summary>
    public void Reached(string point, string taskId, CancellationToken cancellationToken)
    {
        if (!Enabled || point != _point || (_taskId is not null && _taskId != taskId) || Interlocked.Exchange(ref _fired, 1) == 1)
        {
            return;
        }

        _logger.LogWarning("Test pause at {Point} for {TaskId} (BECAME_TEST_PAUSE_AT): waiting until {Marker} is deleted", point, taskId, _marker);
        File.WriteAllText(_marker!, $"{point} {taskId} {Environment.ProcessId}");

        // Polling is fine here: this path exists only under a test, which kills the process or deletes the marker.
        while (File.Exists(_marker!) && !cancellationToken.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(50)))
        {
        }

        _logger.LogWarning("Test pause at {Point} for {TaskId} released", point, taskId);
    }
}
