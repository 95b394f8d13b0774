namespace Became.Core.Serialization;

/// <summary>A payload that is not a well-formed safetensors file; the message names the problem.</summary>
/// <remarks>Derives from <see cref="FormatException"/> because <see cref="InvalidDataException"/> is sealed.</remarks>
public sealed class SafeTensorsFormatException : FormatException
{
    public SafeTensorsFormatException(string message)
        : base(message)
    {
    }

    public SafeTensorsFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
