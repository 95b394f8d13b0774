using System.Runtime.CompilerServices;
using Became.Core.Native;

namespace Became.Cli.Tests;

internal static class TestStartup
{
#pragma warning disable CA2255 // Tests make tensors (harness, Python parity, model files) without going through `became run`.
    [ModuleInitializer]
    internal static void Run() => TorchRuntime.Initialize();
#pragma warning restore CA2255
}
