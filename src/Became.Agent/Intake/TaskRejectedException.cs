namespace Became.Agent.Intake;

/// <summary>A task payload the agent refuses: a short machine code in <see cref="Reason"/> and a human message.</summary>
public sealed class TaskRejectedException : Exception
{
    public TaskRejectedException(string reason, string message)
        : base(message)
    {
        Reason = reason;
    }

    public TaskRejectedException(string reason, string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>One of the <see cref="TaskRejection"/> codes.</summary>
    public string Reason { get; }
}

/// <summary>The machine codes a <see cref="TaskRejectedException"/> carries.</summary>
public static class TaskRejection
{
    public const string TooLarge = "too_large";
    public const string NotSafetensors = "not_safetensors";
    public const string MissingTensor = "missing_tensor";
    public const string BadDType = "bad_dtype";
    public const string BadShape = "bad_shape";
    public const string CountMismatch = "count_mismatch";
    public const string BadLabel = "bad_label";
    public const string BadClasses = "bad_classes";
    public const string NonFinite = "non_finite";
    public const string OutOfRange = "out_of_range";
    public const string Empty = "empty";
    public const string SingleClass = "single_class";
    public const string BadMetadata = "bad_metadata";
    public const string TooSmall = "too_small";
}
