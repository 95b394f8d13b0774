#!/usr/bin/env bash
# BenchmarkDotNet micro-benchmarks of the learner's hot paths (SGD steps, GPM update, Fisher passes).
# Extra arguments go to BenchmarkDotNet, e.g. bench/benchmarks.sh --job short. Results: BenchmarkDotNet.Artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec dotnet run -c Release --project tests/Became.Benchmarks -- --filter '*' "$@"
