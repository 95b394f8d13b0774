using BenchmarkDotNet.Running;
using Became.Core.Native;

TorchRuntime.Initialize();
BenchmarkSwitcher.FromAssembly(typeof(Became.Benchmarks.LearnerStepBenchmarks).Assembly).Run(args);
