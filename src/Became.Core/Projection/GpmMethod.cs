using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Projection;

/// <summary>
/// GPM as a base method. Stage 1 projects the shared weights' gradients onto the complement of the feature memory:
/// on the layers' inputs in the forward pass where the network can (same gradients, a batch-sized product instead of
/// a weight-sized one, and the fused SGD step stays on), on the gradients after backward otherwise. After the task
/// the memory grows from the task's representations.
/// </summary>
public class GpmMethod : ProjectionKind
{
    public override string Name => "gpm";

    public override string Description => "gradient projection memory: stored directions fully removed from stage 1's gradients";

    public override LearnerPlugin CreatePlugin(LearnerOptions options) => new Plugin(options.ProjectionSite);

    private sealed class Plugin(ProjectionSite site) : LearnerPlugin
    {
        public override void BeforeStage(StageScope stage)
        {
            var learner = stage.Task.Learner;
            if (stage.Stage != LearnerStage.Stable || learner.Memory.IsEmpty)
            {
                return;
            }

            var projector = stage.Own(new GradientProjector(learner.Network.SharedLayers, learner.Memory));
            if (site == ProjectionSite.Inputs && CapabilityChecks.CanProjectInputs(learner.Network))
            {
                stage.ProjectInputs(projector);
            }
            else
            {
                stage.OnAfterBackward(projector.ProjectGradients);
            }
        }

        /// <summary>The memory update: its representations draw from the learner's generator.</summary>
        public override AfterTaskWork AfterTask(TaskScope task) => new(
            "memory",
            () =>
            {
                using var scope = NewDisposeScope();
                var learner = task.Learner;
                return learner.Memory.Update(learner.Representations(task.Task.Train, task.Head), task.Index);
            },
            ranks => task.MemoryRanks = (int[])ranks!);
    }
}
