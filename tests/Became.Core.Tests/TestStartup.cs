using System.Runtime.CompilerServices;
using Became.Core.Native;

namespace Became.Core.Tests;

internal static class TestStartup
{
#pragma warning disable CA2255 // Tests may make tensors before touching any Core type.
    [ModuleInitializer]
    internal static void Run()
    {
        TorchRuntime.Initialize();
        TorchSharp.torch.set_num_threads(2);
    }
#pragma warning restore CA2255
}
