using System.Runtime.CompilerServices;

namespace Became.Core.Native;

internal static class ModuleStartup
{
    // Any use of Became.Core brings the native backend up before TorchSharp tries to load it itself.
#pragma warning disable CA2255 // Deliberate: the native fix must run before the first tensor, whoever makes it.
    [ModuleInitializer]
    internal static void Run()
    {
        try
        {
            TorchRuntime.Initialize();
        }
        catch (Exception)
        {
            // Left for the host's explicit TorchRuntime.Initialize() call to report with its message.
        }
    }
#pragma warning restore CA2255
}
