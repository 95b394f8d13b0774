using Became.Agent.Configuration;

namespace Became.Agent.Jobs;

/// <summary>Decides whether a newly merged model may replace the deployed one.</summary>
public static class DeploymentGate
{
    /// <summary>Why the new version must not be deployed, or null to deploy it.</summary>
    /// <param name="gate">The gate's settings.</param>
    /// <param name="taskId">The task just learned.</param>
    /// <param name="accuracy">Held-out accuracy (percent) of the new version per task.</param>
    /// <param name="deployedAccuracy">Held-out accuracy of the deployed version per task (null: nothing deployed).</param>
    /// <param name="testCount">Size of a task's held-out set.</param>
    public static string? Verdict(GateOptions gate, string taskId, IReadOnlyDictionary<string, double> accuracy, IReadOnlyDictionary<string, double>? deployedAccuracy, Func<string, int> testCount)
    {
        if (!gate.Enabled)
        {
            return null;
        }

        if (accuracy.TryGetValue(taskId, out double own) && own < gate.MinNewTaskAccuracy)
        {
            return $"accuracy on the new task {taskId} is {own:F2}%, below Gate:MinNewTaskAccuracy {gate.MinNewTaskAccuracy}%";
        }

        foreach (var (earlier, before) in deployedAccuracy ?? new Dictionary<string, double>())
        {
            if (earlier == taskId || !accuracy.TryGetValue(earlier, out double after))
            {
                continue;
            }

            // A held-out set of n samples measures accuracy only to about ±100·sqrt(p(1-p)/n) points, so a drop
            // must also exceed two standard errors of the difference before it counts: with 30 test samples one
            // or two flipped answers are noise, not forgetting.
            double p = before / 100;
            double noise = 2 * 100 * Math.Sqrt(2 * p * (1 - p) / Math.Max(1, testCount(earlier)));
            if (before - after > gate.MaxForgettingPoints + noise)
            {
                return $"accuracy on {earlier} fell from {before:F2}% to {after:F2}% ({before - after:F2} points > Gate:MaxForgettingPoints {gate.MaxForgettingPoints} + {noise:F2} sampling noise)";
            }
        }

        return null;
    }
}
