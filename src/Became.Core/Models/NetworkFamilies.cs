using System.Globalization;
using static TorchSharp.torch;

namespace Became.Core.Models;

/// <summary>The network families a learner can be built on, by name.</summary>
public static class NetworkFamilies
{
    /// <summary>The multi-head MLP (<see cref="MultiHeadMlp"/>).</summary>
    public static INetworkFamily Mlp { get; } = new MlpFamily();

    /// <summary>The paper's AlexNet (<see cref="Models.AlexNet"/>).</summary>
    public static INetworkFamily AlexNet { get; } = new AlexNetFamily();

    /// <summary>GPM's reduced ResNet-18 (<see cref="Models.ResNet18"/>).</summary>
    public static INetworkFamily ResNet18 { get; } = new ResidualFamily(
        "resnet18", "ResNet-18", Models.ResNet18.CheckShape, (shape, width, device, seed) => new ResNet18(shape, width, device, seed));

    /// <summary>Adam-NSCL's PreAct ResNet-18 (<see cref="Models.PreActResNet18"/>).</summary>
    public static INetworkFamily PreActResNet18 { get; } = new ResidualFamily(
        "preact-resnet18", "PreAct ResNet-18", Models.PreActResNet18.CheckShape, (shape, width, device, seed) => new PreActResNet18(shape, width, device, seed));

    /// <summary>Every family, in the order messages list them.</summary>
    public static IReadOnlyList<INetworkFamily> All { get; } = [Mlp, AlexNet, ResNet18, PreActResNet18];

    /// <summary>The syntax of every family for messages: <c>mlp or alexnet[:width]</c>.</summary>
    public static string Syntaxes => string.Join(" or ", All.Select(f => f.Syntax));

    /// <summary>Reads a spec such as <c>mlp</c>, <c>alexnet</c> or <c>alexnet:0.25</c> (family names ignore case).</summary>
    public static ModelSpec Parse(string text, IReadOnlyList<int>? hiddenSizes = null)
    {
        var parts = text.Trim().Split(':', 2);
        var family = All.FirstOrDefault(f => string.Equals(f.Name, parts[0], StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"Unknown model '{text}'. Use {Syntaxes}.");
        return family.Parse(text, parts.Length == 2 ? parts[1] : null, hiddenSizes ?? ReferenceProtocol.Mlp.HiddenSizes);
    }

    /// <summary>Checks that the shape has positive dimensions; then the family's own rule.</summary>
    internal static string? CheckPositive(IReadOnlyList<long> inputShape) =>
        inputShape.Count == 0 || inputShape.Any(d => d < 1) ? "The input shape needs positive dimensions." : null;

    private static string Shape(IReadOnlyList<long> shape) => $"[{string.Join(", ", shape)}]";

    private sealed class MlpFamily : INetworkFamily
    {
        public string Name => "mlp";

        public string Syntax => "mlp";

        public NetworkCapabilities Capabilities => MultiHeadMlp.LinearStack;

        public MemoryDefaults MemoryDefaults { get; } = new(ReferenceProtocol.Mlp.Thresholds, ReferenceProtocol.Mlp.ThresholdIncrement, null);

        public bool TakesImages => false;

        public ModelSpec Parse(string text, string? argument, IReadOnlyList<int> hiddenSizes) => argument is null
            ? new ModelSpec(this, hiddenSizes)
            : throw new ArgumentException($"Unknown model '{text}'. Use {Syntaxes}.");

        public string NameOf(ModelSpec spec) => Name;

        public int SharedLayerCount(ModelSpec spec) => spec.HiddenSizes.Count;

        public string? CheckInputShape(IReadOnlyList<long> inputShape) => CheckPositive(inputShape);

        public IContinualNetwork Create(ModelSpec spec, IReadOnlyList<long> inputShape, Device? device, long? seed) =>
            new MultiHeadMlp(checked((int)inputShape.Aggregate(1L, (a, b) => a * b)), spec.HiddenSizes, device, seed) { InputShape = inputShape };
    }

    /// <summary>An image network with an optional width multiplier (<c>name[:W]</c>).</summary>
    private abstract class ScalableFamily : INetworkFamily
    {
        public abstract string Name { get; }

        public string Syntax => Name + "[:width]";

        /// <summary>The network's name in messages, e.g. AlexNet.</summary>
        protected abstract string DisplayName { get; }

        /// <summary>A width for the messages' example.</summary>
        protected virtual string ExampleWidth => "0.5";

        public NetworkCapabilities Capabilities => NetworkCapabilities.None;

        public abstract MemoryDefaults MemoryDefaults { get; }

        public bool TakesImages => true;

        public ModelSpec Parse(string text, string? argument, IReadOnlyList<int> hiddenSizes)
        {
            double width = 1.0;
            if (argument is not null && !(double.TryParse(argument, NumberStyles.Float, CultureInfo.InvariantCulture, out width) && width > 0 && double.IsFinite(width)))
            {
                throw new ArgumentException($"'{text}': the {DisplayName} width multiplier must be a positive number, e.g. {Name}:{ExampleWidth}.");
            }

            return new ModelSpec(this, hiddenSizes, width);
        }

        public string NameOf(ModelSpec spec) => spec.Width == 1.0 ? Name : Name + ":" + spec.Width.ToString("R", CultureInfo.InvariantCulture);

        public int SharedLayerCount(ModelSpec spec) => MemoryDefaults.LayerSamples!.Count;

        public string? CheckInputShape(IReadOnlyList<long> inputShape) => CheckPositive(inputShape) ?? CheckImageShape(inputShape);

        public abstract IContinualNetwork Create(ModelSpec spec, IReadOnlyList<long> inputShape, Device? device, long? seed);

        protected abstract string? CheckImageShape(IReadOnlyList<long> inputShape);
    }

    private sealed class AlexNetFamily : ScalableFamily
    {
        public override string Name => "alexnet";

        protected override string DisplayName => "AlexNet";

        protected override string ExampleWidth => "0.25";

        public override MemoryDefaults MemoryDefaults { get; } = new(ReferenceProtocol.AlexNet.Thresholds, ReferenceProtocol.AlexNet.ThresholdIncrement, ReferenceProtocol.AlexNet.LayerSamples);

        protected override string? CheckImageShape(IReadOnlyList<long> inputShape) =>
            inputShape.Count is 2 or 3 && inputShape[^2] <= int.MaxValue && inputShape[^1] <= int.MaxValue && Models.AlexNet.Fits((int)inputShape[^2], (int)inputShape[^1])
                ? null
                : $"AlexNet needs an image input shape [channels, height, width] or [height, width], at least 19 x 19 (e.g. [1, 28, 28]); got {Shape(inputShape)}.";

        public override IContinualNetwork Create(ModelSpec spec, IReadOnlyList<long> inputShape, Device? device, long? seed) => inputShape.Count switch
        {
            3 => new AlexNet((int)inputShape[0], (int)inputShape[1], (int)inputShape[2], spec.Width, device, seed) { InputShape = inputShape },
            _ => new AlexNet(1, (int)inputShape[0], (int)inputShape[1], spec.Width, device, seed) { InputShape = inputShape },
        };
    }

    /// <summary>A ResNet-18 family: its name, its shape rule and its constructor; both use resnet18's GPM defaults.</summary>
    private sealed class ResidualFamily(string name, string displayName, Func<IReadOnlyList<long>, string?> checkShape, Func<IReadOnlyList<long>, double, Device?, long?, IContinualNetwork> create)
        : ScalableFamily
    {
        public override string Name => name;

        protected override string DisplayName => displayName;

        public override MemoryDefaults MemoryDefaults { get; } = new(ReferenceProtocol.ResNet18.Thresholds, ReferenceProtocol.ResNet18.ThresholdIncrement, ReferenceProtocol.ResNet18.LayerSamples);

        protected override string? CheckImageShape(IReadOnlyList<long> inputShape) => checkShape(inputShape);

        public override IContinualNetwork Create(ModelSpec spec, IReadOnlyList<long> inputShape, Device? device, long? seed) =>
            create(inputShape, spec.Width, device, seed);
    }
}
