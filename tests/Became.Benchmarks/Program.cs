using BenchmarkDotNet.Running;
using Became.Core.Native;

TorchRuntime.Initialize();
BenchmarkSwitcher.FromAssembly(typeof(Became.Benchmarks.SgdStepBenchmarks).Assembly).Run(args);
