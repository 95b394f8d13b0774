namespace Became.Core;

/// <summary>The GPM/BECAME papers' protocol defaults, written down once: Core's option records, the agent's settings
/// and the bench all read them from here.</summary>
public static class ReferenceProtocol
{
    /// <summary>Epochs per task (and per stage).</summary>
    public const int Epochs = 5;

    /// <summary>SGD batch size.</summary>
    public const int BatchSize = 10;

    /// <summary>Batch of the reference's test passes (<c>batch_size_test</c>): the batch statistics its batch-norm
    /// networks evaluate with.</summary>
    public const int TestBatchSize = 64;

    /// <summary>SGD learning rate.</summary>
    public const double LearningRate = 0.01;

    /// <summary>Training stops once the learning rate falls below this.</summary>
    public const double MinLearningRate = 1e-5;

    /// <summary>The learning rate is divided by this when patience runs out.</summary>
    public const double LearningRateFactor = 2;

    /// <summary>Epochs without a better validation loss before the learning rate falls.</summary>
    public const int Patience = 6;

    /// <summary>SGP's scale coefficient s.</summary>
    public const double SgpScale = 10;

    /// <summary>Fashion-MNIST's pixel mean (inputs scaled to [0,1]), subtracted before the network.</summary>
    public const double NormalizationMean = 0.2860;

    /// <summary>Fashion-MNIST's pixel standard deviation (inputs scaled to [0,1]).</summary>
    public const double NormalizationStd = 0.3530;

    /// <summary>The multi-head MLP's protocol (GPM's MLP setting).</summary>
    public static class Mlp
    {
        /// <summary>Hidden widths.</summary>
        public static IReadOnlyList<int> HiddenSizes { get; } = [100, 100];

        /// <summary>Energy threshold per hidden layer.</summary>
        public static IReadOnlyList<double> Thresholds { get; } = [0.95, 0.99];

        /// <summary>Added to every threshold per task.</summary>
        public const double ThresholdIncrement = 0;

        /// <summary>Samples in each representation matrix.</summary>
        public const int MemorySamples = 300;
    }

    /// <summary>The AlexNet's protocol (GPM's convolutional setting).</summary>
    public static class AlexNet
    {
        /// <summary>One energy threshold for every layer.</summary>
        public static IReadOnlyList<double> Thresholds { get; } = [0.97];

        /// <summary>Added to every threshold per task.</summary>
        public const double ThresholdIncrement = 0.003;

        /// <summary>Samples per representation matrix (conv1..3, fc1, fc2): a convolution contributes a column per
        /// patch, so fewer samples fill its matrix.</summary>
        public static IReadOnlyList<int> LayerSamples { get; } = [24, 100, 100, 125, 125];
    }

    /// <summary>GPM's reduced ResNet-18 protocol (the authors' miniImageNet path, <c>main_cifar100.py --dataset
    /// miniimagenet --method GPM</c>); also the defaults for GPM on the PreAct ResNet-18, which the papers do not run.</summary>
    public static class ResNet18
    {
        /// <summary>One energy threshold for every convolution.</summary>
        public static IReadOnlyList<double> Thresholds { get; } = [0.985];

        /// <summary>Added to every threshold per task.</summary>
        public const double ThresholdIncrement = 0.0003;

        /// <summary>Samples per representation matrix of the 17 3x3 convolutions, [10]*8 + [50]*3 + [100]*6, with each
        /// stage's 1x1 shortcut (after layer2.0.conv2, layer3.0.conv2, layer4.0.conv2) taking its block's first
        /// convolution's count: 20 layers in the order of the network's parameters.</summary>
        public static IReadOnlyList<int> LayerSamples { get; } =
            [10, 10, 10, 10, 10, 10, 10, 10, 10, 50, 50, 50, 50, 100, 100, 100, 100, 100, 100, 100];
    }
}
