using Became.Core.Data;
using Became.Core.Evaluation;
using Became.Core.Models;
using Became.Core.Native;
using Became.Core.Projection;
using Became.Core.Tests.Data;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Tests.Algorithm;

/// <summary>
/// The whole learner on one compute device: BECAME_TEST_DEVICE (default cpu; deploy/gpu/check-cuda.sh sets cuda).
/// On the CPU it checks that moving data with To(device) and the device-aware steps change nothing; on a GPU it is
/// the check that no step mixes devices. Permuted Fashion-MNIST, 3 tasks of 500 samples, 100-100 MLP.
/// </summary>
[Collection(FashionMnistCollection.Name)]
public sealed class DeviceTrainingTests(FashionMnistFixture data)
{
    private static ComputeDevice TestDevice => ComputeDevice.Resolve(Environment.GetEnvironmentVariable("BECAME_TEST_DEVICE") ?? "cpu");

    private static LearnerOptions Options => new()
    {
        Method = ContinualMethod.Became,
        Training = new TrainingOptions { Epochs = 3, LearningRate = 0.05 },
        Memory = new GpmOptions { Thresholds = [0.95, 0.99], Samples = 300 },
    };

    [Fact]
    public void Became_learns_and_restores_with_every_tensor_on_the_test_device()
    {
        var device = TestDevice;
        using var scope = NewDisposeScope();
        using var stream = TaskStreams.PermutedFashionMnist(data.Dataset, FashionMnistFixture.Seed, tasks: 3, trainPerTask: 500);
        var tasks = stream.Tasks.Select(t => t.To(device.Device)).ToList();
        try
        {
            manual_seed(FashionMnistFixture.Seed);
            using var network = new MultiHeadMlp(784, [100, 100], device.Device);
            using var learner = new ContinualLearner(network, Options, FashionMnistFixture.Seed);
            learner.Learn(tasks[0]);
            var outcome = learner.Learn(tasks[1]);

            Assert.All(network.Parameters, p => Assert.Equal(device.Device.type, p.Tensor.device_type));
            Assert.Equal(device.Device.type, learner.Memory.Basis(0)!.device_type);
            Assert.All(learner.Fisher.Values.Values, f => Assert.Equal(device.Device.type, f.device_type));
            Assert.InRange(outcome.MergeCoefficient!.Value, 0.0, 1.0);
            double first = Evaluator.Accuracy(network, tasks[0].Test, 0);
            Assert.True(first > 60, $"task 0 accuracy {first:F1}% on {device}");

            // A checkpoint (CPU tensors) restores onto a fresh network on the device and keeps learning there.
            var state = LearnerCheckpoint.Export(learner);
            try
            {
                Assert.All(state.Values, t => Assert.Equal(TorchSharp.DeviceType.CPU, t.device_type));
                using var restoredNetwork = new MultiHeadMlp(784, [100, 100], device.Device);
                using var restored = new ContinualLearner(restoredNetwork, Options, FashionMnistFixture.Seed + 1);
                LearnerCheckpoint.Import(restored, network.HeadClasses, state);
                Assert.Equal(first, Evaluator.Accuracy(restoredNetwork, tasks[0].Test, 0));

                restored.Learn(tasks[2]);
                double third = Evaluator.Accuracy(restoredNetwork, tasks[2].Test, 2);
                Assert.True(third > 60, $"task 2 accuracy {third:F1}% after restoring on {device}");
                Assert.Equal(device.Device.type, restored.Memory.Basis(0)!.device_type);
            }
            finally
            {
                foreach (var t in state.Values)
                {
                    t.Dispose();
                }
            }
        }
        finally
        {
            tasks.ForEach(t => t.Dispose());
        }
    }
}
