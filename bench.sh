#!/usr/bin/env bash
# The offline benchmark: `became bench` (the became-bench program, src/Became.Bench) on real Fashion-MNIST (all four methods, 3 seeds), with a table,
# JSON and a plot in out/. Any `became bench` option may be added, e.g. ./bench.sh --stream permuted-fmnist.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
mkdir -p out
stream=split-fmnist
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[i]}" = --stream ] && stream=${args[i+1]:-$stream}; done
exec dotnet run --project src/Became.Bench -c Release -- \
  --json "out/$stream.json" --plot "out/$stream.png" --reference "bench/reference/$stream.json" "$@"
