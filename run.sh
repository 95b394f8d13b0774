#!/usr/bin/env bash
# The main job: the Became agent on its embedded MQTT broker with local LiteDB state (out/agent), fed the
# split-fmnist stream over MQTT as an external client would. It prints progress and, after each deployed
# model, the held-out accuracy of every task so far; it keeps serving until Ctrl-C. Extra arguments go to
# `became run` (e.g. --demo-samples 2000 for a quicker loop, --embedded-port 1884, --http-urls http://0.0.0.0:8081).
# The status page is at http://127.0.0.1:8080/ unless --http-urls says otherwise.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
mkdir -p out
http=(--http-urls http://127.0.0.1:8080)
for arg in "$@"; do
  case "$arg" in --http-urls|--http-urls=*|--HttpUrls=*) http=() ;; esac
done
exec dotnet run --project src/Became.Cli -c Release -- run --demo split-fmnist --data-dir out/agent "${http[@]}" "$@"
