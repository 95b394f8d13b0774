using Became.Agent.Configuration;

namespace Became.Agent.Deployment;

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
            if (earlier == taskId || !accuracy.TryGetValue(earlier, out double after) || !double.IsFinite(before) || !double.IsFinite(after))
            {
                continue;
            }

            double noise = SamplingNoise(before, testCount(earlier));
            if (before - after > gate.MaxForgettingPoints + noise)
            {
                return $"accuracy on {earlier} fell from {before:F2}% to {after:F2}% ({before - after:F2} points > Gate:MaxForgettingPoints {gate.MaxForgettingPoints} + {noise:F2} sampling noise)";
            }
        }

        return null;
    }

    /// <summary>
    /// How far (points) an accuracy measured on <paramref name="testCount"/> held-out samples may fall by chance: two
    /// standard errors of the difference of two such measurements, with the Agresti–Coull estimate of the proportion
    /// (two successes and two failures added, p̃ = (x + 2) / (n + 4)). The plain estimate p(1 − p) / n is 0 at 0% and
    /// 100%, so one or two flipped answers after a perfect score would count as forgetting; this one is not.
    /// </summary>
    public static double SamplingNoise(double accuracyPercent, int testCount)
    {
        int n = Math.Max(1, testCount);
        double p = (accuracyPercent / 100 * n + 2) / (n + 4);
        return 2 * 100 * Math.Sqrt(2 * p * (1 - p) / (n + 4));
    }
}
