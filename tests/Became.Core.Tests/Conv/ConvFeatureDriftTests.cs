using Became.Core.Data;
using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.Tests.Data;
using Became.Core.Training;
using static Became.Core.Tests.Algorithm.AlgorithmTensors;
using static TorchSharp.torch;

namespace Became.Core.Tests.Conv;

/// <summary>
/// What conv GPM buys: AlexNet at width 0.125 learns split-fmnist task 0 (classes 0/1), then task 1 (2/3), each
/// from its first 1,000 training images, 3 epochs of batch 32 at lr 0.05, seed 0, thresholds 0.97 + 0.003 t and
/// the reference's per-layer samples (24, 100, 100, 125, 125). The three convolutions' pre-norm outputs on 200 of
/// task 0's test images are compared with those right after task 0.
/// </summary>
[Collection(FashionMnistCollection.Name)]
public sealed class ConvFeatureDriftTests(FashionMnistFixture data, ConvFeatureDriftTests.Runs runs) : IClassFixture<ConvFeatureDriftTests.Runs>
{
    [Fact]
    public void Conv_gpm_leaves_earlier_tasks_conv_features_nearly_unchanged()
    {
        // Seeds 0..2 measured 0.033-0.040 (conv1), 0.046-0.065 (conv2), 0.067-0.075 (conv3); fine-tuning 0.26-0.74.
        var drift = runs.Get(data.Split, ContinualMethod.Gpm).Drift;

        Assert.All(drift, d => Assert.True(d < 0.12, $"relative conv output change {Describe(drift)}"));
    }

    [Fact]
    public void Finetune_moves_earlier_tasks_conv_features_several_times_more_than_conv_gpm()
    {
        var gpm = runs.Get(data.Split, ContinualMethod.Gpm).Drift;
        var finetune = runs.Get(data.Split, ContinualMethod.Finetune).Drift;

        // Seeds 0..2 measured ratios of the sums 7.5-9.5.
        Assert.True(finetune.Sum() > 4 * gpm.Sum(), $"finetune {Describe(finetune)} vs gpm {Describe(gpm)}");
    }

    [Fact]
    public void Sgp_lets_earlier_conv_features_move_more_than_gpm_and_less_than_finetune()
    {
        var gpm = runs.Get(data.Split, ContinualMethod.Gpm).Drift.Sum();
        var sgp = runs.Get(data.Split, ContinualMethod.Gpm, ProjectionKind.Sgp).Drift.Sum();
        var finetune = runs.Get(data.Split, ContinualMethod.Finetune).Drift.Sum();
        // Seeds 0..2 measured drift sums gpm 0.16-0.17, sgp 0.37-0.46, finetune 1.31-1.90.

        Assert.True(gpm < sgp && sgp < finetune, $"drift sums: gpm {gpm:F4}, sgp {sgp:F4}, finetune {finetune:F4}");
    }

    [Fact]
    public void AlexNet_learns_the_first_split_fmnist_task()
    {
        Assert.True(runs.Get(data.Split, ContinualMethod.Gpm).FirstTaskAccuracy > 90, $"task 0 accuracy {runs.Get(data.Split, ContinualMethod.Gpm).FirstTaskAccuracy:F2}%");
    }

    [Fact]
    public void Conv_gpm_freezes_the_batch_norm_affine_parameters_after_the_first_task()
    {
        var run = runs.Get(data.Split, ContinualMethod.Gpm);

        Assert.True(run.NormChange == 0, $"batch-norm parameters moved by up to {run.NormChange:E2} in task 1");
        Assert.True(run.Drift.All(d => d > 0), "precondition: the convolutions did train in task 1");
    }

    private static string Describe(double[] values) => string.Join(", ", values.Select(v => v.ToString("F4")));

    /// <summary>One run's measurements.</summary>
    /// <param name="Drift">Relative change ‖O_after − O_before‖ / ‖O_before‖ of each convolution's outputs.</param>
    /// <param name="FirstTaskAccuracy">Task 0 test accuracy (percent, the 200 images) right after task 0.</param>
    /// <param name="NormChange">Largest absolute change of a batch-norm parameter during task 1.</param>
    public sealed record Measurement(double[] Drift, double FirstTaskAccuracy, double NormChange);

    /// <summary>Each method's run, made once per test class.</summary>
    public sealed class Runs
    {
        private const int Seed = 0;
        private readonly Dictionary<(string, ProjectionKind), Measurement> _runs = [];
        private readonly Lock _gate = new();

        public Measurement Get(TaskStream stream, ContinualMethod method, ProjectionKind? projection = null)
        {
            projection ??= ProjectionKind.Gpm;
            lock (_gate)
            {
                if (!_runs.TryGetValue((method.Name, projection), out var run))
                {
                    run = Measure(stream, method, projection);
                    _runs[(method.Name, projection)] = run;
                }

                return run;
            }
        }

        private static Measurement Measure(TaskStream stream, ContinualMethod method, ProjectionKind projection)
        {
            using var threads = SingleThread();
            using var scope = NewDisposeScope();
            var options = new LearnerOptions
            {
                Method = method,
                Training = new TrainingOptions { Epochs = 3, BatchSize = 32, LearningRate = 0.05 },
                Memory = new GpmOptions { Thresholds = [0.97], ThresholdIncrement = 0.003, LayerSamples = NetworkFamilies.AlexNet.MemoryDefaults.LayerSamples, Projection = projection },
            };
            manual_seed(Seed);
            using var network = new AlexNet(1, 28, 28, widthMultiplier: 0.125);
            using var learner = new ContinualLearner(network, options, Seed);
            using var first = Subset(stream.Tasks[0], 1000);
            using var second = Subset(stream.Tasks[1], 1000);
            var probe = stream.Tasks[0].Test.Inputs.narrow(0, 0, 200);
            var probeLabels = stream.Tasks[0].Test.Labels.narrow(0, 0, 200);

            learner.Learn(first);
            var before = ConvOutputs(network, probe);
            double accuracy = Evaluation.Evaluator.Accuracy(network, new LabelledSet(probe, probeLabels), 0);
            var norms = network.SharedParameters.Where(p => p.Tensor.dim() == 1).Select(p => p.Tensor.detach().clone()).ToList();
            learner.Learn(second);
            var after = ConvOutputs(network, probe);
            double normChange = network.SharedParameters.Where(p => p.Tensor.dim() == 1)
                .Zip(norms, (p, b) => (p.Tensor - b).abs().max().item<float>()).Max();

            return new Measurement(before.Zip(after, (b, a) => RelativeError(a, b)).ToArray(), accuracy, normChange);
        }

        private static ContinualTask Subset(ContinualTask task, int count) => new(
            task.Index,
            task.Name,
            task.Classes,
            new LabelledSet(task.Train.Inputs.narrow(0, 0, count).clone(), task.Train.Labels.narrow(0, 0, count).clone()),
            new LabelledSet(task.Validation.Inputs.clone(), task.Validation.Labels.clone()),
            new LabelledSet(task.Test.Inputs.narrow(0, 0, 10).clone(), task.Test.Labels.narrow(0, 0, 10).clone()));

        private static List<Tensor> ConvOutputs(AlexNet network, Tensor inputs)
        {
            using var noGrad = no_grad();
            var capture = new ForwardCapture();
            network.Forward(inputs, 0, capture);
            return capture.LayerOutputs.Take(3).Select(o => o.clone()).ToList();
        }
    }
}
