#!/usr/bin/env bash
# The x64 GPU path, end to end, on a machine with an NVIDIA GPU (driver for CUDA 12.8) and a NuGet feed that serves
# libtorch-cuda-12.8-linux-x64 2.10.0 (nuget.org does; this project's build mirror does not):
#   1. builds everything with -p:TorchBackend=cuda (the CUDA libtorch instead of the CPU one),
#   2. runs the device tests on cuda (BECAME_TEST_DEVICE=cuda: the whole learner, checkpoint round trip included),
#      then the whole Core suite on that build,
#   3. runs `became bench` for one seed on cuda and on cpu with the same binary and prints the speed-up.
# Usage: deploy/gpu/check-cuda.sh [output-folder]      (default out/gpu)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/out/gpu}"
mkdir -p "$out"
cd "$root"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L; then
  echo "check-cuda: no NVIDIA GPU visible (nvidia-smi); nothing to check here." >&2
  exit 1
fi

echo "== build (TorchBackend=cuda)"
dotnet build Became.sln -c Release -p:TorchBackend=cuda

echo "== device tests on cuda"
BECAME_TEST_DEVICE=cuda dotnet test tests/Became.Core.Tests -c Release -p:TorchBackend=cuda --no-build \
  --filter "FullyQualifiedName~DeviceTraining|FullyQualifiedName~ComputeDevice" --logger "console;verbosity=normal"
echo "== Core suite (CUDA build)"
dotnet test tests/Became.Core.Tests -c Release -p:TorchBackend=cuda --no-build

bench="src/Became.Bench/bin/Release/net10.0/linux-x64/became-bench"
for device in cuda cpu; do
  echo "== became bench on $device (split-fmnist, became, seed 0)"
  "$bench" --stream split-fmnist --methods became --seeds 0 --device "$device" --json "$out/bench-$device.json"
done

python3 - "$out/bench-cuda.json" "$out/bench-cpu.json" <<'PY'
import json, sys
cuda, cpu = (json.load(open(p))["runs"][0] for p in sys.argv[1:3])
print(f"split-fmnist became seed 0: cuda {cuda['seconds']:.1f} s (ACC {cuda['acc']:.2f}), "
      f"cpu {cpu['seconds']:.1f} s (ACC {cpu['acc']:.2f}); speed-up {cpu['seconds'] / cuda['seconds']:.2f}x")
PY
