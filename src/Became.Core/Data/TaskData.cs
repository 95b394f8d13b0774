using TorchSharp;
using static TorchSharp.torch;

namespace Became.Core.Data;

/// <summary>Inputs with their labels: <c>Inputs</c> float32 [N, features...] already normalised, <c>Labels</c> int64 [N].</summary>
public sealed class LabelledSet : IDisposable
{
    public LabelledSet(Tensor inputs, Tensor labels)
    {
        if (inputs.shape[0] != labels.shape[0])
        {
            throw new ArgumentException($"Inputs have {inputs.shape[0]} rows but labels have {labels.shape[0]}.");
        }

        Inputs = inputs;
        Labels = labels;
    }

    public Tensor Inputs { get; }

    public Tensor Labels { get; }

    public int Count => (int)Inputs.shape[0];

    /// <summary>A copy on another device (the caller disposes it; on the same device the copy shares storage).</summary>
    public LabelledSet To(Device device) => new(Inputs.to(device).DetachFromDisposeScope(), Labels.to(device).DetachFromDisposeScope());

    public void Dispose()
    {
        Inputs.Dispose();
        Labels.Dispose();
    }
}

/// <summary>One task of a continual-learning stream: its own classes, head size and splits.</summary>
public sealed class ContinualTask : IDisposable
{
    public ContinualTask(int index, string name, int classes, LabelledSet train, LabelledSet validation, LabelledSet test)
    {
        Index = index;
        Name = name;
        Classes = classes;
        Train = train;
        Validation = validation;
        Test = test;
    }

    public int Index { get; }

    public string Name { get; }

    /// <summary>Size of this task's output head; labels are 0..Classes-1.</summary>
    public int Classes { get; }

    public LabelledSet Train { get; }

    public LabelledSet Validation { get; }

    public LabelledSet Test { get; }

    /// <summary>The same task with its data on another device (the caller disposes it).</summary>
    public ContinualTask To(Device device) => new(Index, Name, Classes, Train.To(device), Validation.To(device), Test.To(device));

    public void Dispose()
    {
        Train.Dispose();
        Validation.Dispose();
        Test.Dispose();
    }
}

/// <summary>A named sequence of tasks over inputs of one shape.</summary>
public sealed class TaskStream : IDisposable
{
    public TaskStream(string name, IReadOnlyList<ContinualTask> tasks, long[] inputShape)
    {
        Name = name;
        Tasks = tasks;
        InputShape = inputShape;
    }

    public string Name { get; }

    public IReadOnlyList<ContinualTask> Tasks { get; }

    /// <summary>Shape of one input, e.g. [784].</summary>
    public long[] InputShape { get; }

    /// <summary>The same stream with every task's data on another device (the caller disposes it).</summary>
    public TaskStream To(Device device) => new(Name, Tasks.Select(t => t.To(device)).ToList(), InputShape);

    public void Dispose()
    {
        foreach (var task in Tasks)
        {
            task.Dispose();
        }
    }
}
