using Became.Bench;
using Became.Agent.Configuration;
using Became.Core;
using Became.Core.Merging;
using Became.Core.Training;

namespace Became.Agent.Tests.Configuration;

/// <summary>The agent's and the bench's defaults are the reference protocol's, so the two cannot drift apart.</summary>
public sealed class ReferenceProtocolDefaultsTests
{
    [Fact]
    public void Agent_learns_an_mlp_with_the_reference_protocol_by_default()
    {
        var learner = AgentLearner("mlp");

        AssertTraining(learner.Training);
        Assert.Equal(ReferenceProtocol.Mlp.HiddenSizes, AgentOptionsDefaults.HiddenSizes);
        Assert.Equal(ReferenceProtocol.Mlp.Thresholds, learner.Memory.Thresholds);
        Assert.Equal(ReferenceProtocol.Mlp.ThresholdIncrement, learner.Memory.ThresholdIncrement);
        Assert.Equal(ReferenceProtocol.Mlp.MemorySamples, learner.Memory.Samples);
        Assert.Null(learner.Memory.LayerSamples);
        Assert.Equal(ReferenceProtocol.SgpScale, learner.Memory.ScaleCoefficient);
        var model = new AgentOptions().Model;
        Assert.Equal(ReferenceProtocol.NormalizationMean, model.NormalizationMean);
        Assert.Equal(ReferenceProtocol.NormalizationStd, model.NormalizationStd);
    }

    [Fact]
    public void Agent_learns_an_alexnet_with_the_reference_protocol_by_default()
    {
        var learner = AgentLearner("alexnet");

        AssertTraining(learner.Training);
        Assert.Equal(ReferenceProtocol.AlexNet.Thresholds, learner.Memory.Thresholds);
        Assert.Equal(ReferenceProtocol.AlexNet.ThresholdIncrement, learner.Memory.ThresholdIncrement);
        Assert.Equal(ReferenceProtocol.AlexNet.LayerSamples, learner.Memory.LayerSamples);
    }

    [Fact]
    public void Bench_runs_the_reference_protocol_by_default()
    {
        var mlp = BenchOptions.Parse([]);
        var learner = mlp.LearnerFor(ContinualMethod.Became);

        AssertTraining(learner.Training);
        Assert.Equal(ReferenceProtocol.Mlp.HiddenSizes, mlp.Hidden);
        Assert.Equal(ReferenceProtocol.Mlp.HiddenSizes, mlp.Model.HiddenSizes);
        Assert.Equal(ReferenceProtocol.Mlp.Thresholds, learner.Memory.Thresholds);
        Assert.Equal(ReferenceProtocol.Mlp.ThresholdIncrement, learner.Memory.ThresholdIncrement);
        Assert.Equal(ReferenceProtocol.Mlp.MemorySamples, learner.Memory.Samples);
        Assert.Null(learner.Memory.LayerSamples);
        Assert.Equal(ReferenceProtocol.SgpScale, learner.Memory.ScaleCoefficient);

        var alexNet = BenchOptions.Parse(["--model", "alexnet"]).LearnerFor(ContinualMethod.Became);
        AssertTraining(alexNet.Training);
        Assert.Equal(ReferenceProtocol.AlexNet.Thresholds, alexNet.Memory.Thresholds);
        Assert.Equal(ReferenceProtocol.AlexNet.ThresholdIncrement, alexNet.Memory.ThresholdIncrement);
        Assert.Equal(ReferenceProtocol.AlexNet.LayerSamples, alexNet.Memory.LayerSamples);
    }

    [Fact]
    public void Agent_and_bench_learn_with_the_same_defaults()
    {
        var agent = AgentLearner("mlp");
        var bench = BenchOptions.Parse([]).LearnerFor(agent.Method);

        Assert.Equal(agent.Training, bench.Training);
        Assert.Equal(agent.Memory.Thresholds, bench.Memory.Thresholds);
        Assert.Equal(agent.Memory with { Thresholds = bench.Memory.Thresholds }, bench.Memory);
    }

    private static LearnerOptions AgentLearner(string architecture)
    {
        var options = new AgentOptions { Model = { Architecture = architecture } };
        new AgentOptionsDefaults().PostConfigure(null, options);
        return options.Training.ToLearnerOptions(options.Model);
    }

    private static void AssertTraining(TrainingOptions training)
    {
        Assert.Equal(ReferenceProtocol.Epochs, training.Epochs);
        Assert.Equal(ReferenceProtocol.BatchSize, training.BatchSize);
        Assert.Equal(ReferenceProtocol.LearningRate, training.LearningRate);
        Assert.Equal(ReferenceProtocol.MinLearningRate, training.MinLearningRate);
        Assert.Equal(ReferenceProtocol.LearningRateFactor, training.LearningRateFactor);
        Assert.Equal(ReferenceProtocol.Patience, training.Patience);
    }
}
