#!/usr/bin/env bash
# Infer latency with and without a task id: starts `became run` (embedded broker, HTTP on loopback with a token),
# teaches it split-fmnist tasks 0-2 (2,000 images each, 1 epoch), then sends the same Fashion-MNIST test images
# over HTTP with `became bench-infer --request`, alternating a request naming the task and one without (the device
# picks the task), at batch 1 and 32, and prints requests/s and p50/p99 latency of each.
#   bench/task-agnostic/latency.sh [--rate 50] [--seconds 10] [--rounds 2] [--task-features body|input[:M]]
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=50; seconds=10; rounds=2; features=body
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --task-features) features="$2"; shift 2 ;;
    *) echo "latency.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh >/dev/null
dotnet build src/Became.Cli -c Release -nologo -v q >/dev/null
became=src/Became.Cli/bin/Release/net10.0/linux-x64/became
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mqtt=$(free_port); http=$(free_port); token=bench-infer-token-0123456789
work=$(mktemp -d)
agent=
cleanup() { [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$became" run --device-id lat --data-dir "$work" --embedded-port "$mqtt" --http-urls "http://127.0.0.1:$http" \
  --HttpToken="$token" --epochs 1 --Training:TaskFeatures="$features" >"$work/agent.log" 2>&1 &
agent=$!
deployed() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http/models" | /usr/bin/python3 -c 'import json,sys; sys.exit(0 if any(m["deployed"] and len(m["tasks"]) == 3 for m in json.load(sys.stdin)) else 1)'; }
for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$http/healthz" && break; sleep 0.2; done
"$became" publish --broker "127.0.0.1:$mqtt" --device lat --stream split-fmnist --tasks 0,1,2 --samples 2000 >/dev/null
for _ in $(seq 1500); do deployed && break; kill -0 "$agent" || { cat "$work/agent.log" >&2; exit 1; }; sleep 0.2; done
deployed || { echo "latency.sh: three tasks were not deployed in time" >&2; exit 1; }
for batch in 1 32; do
  /usr/bin/python3 - "$work" "$batch" <<'PY'
import gzip, json, struct, sys
work, batch = sys.argv[1], int(sys.argv[2])
raw = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()[16:]
inputs = [[round(b / 255, 4) for b in raw[i * 784:(i + 1) * 784]] for i in range(batch)]
json.dump({"taskId": "split-fmnist-2", "inputs": inputs}, open(f"{work}/with-{batch}.json", "w"))
json.dump({"inputs": inputs}, open(f"{work}/without-{batch}.json", "w"))
PY
done
for round in $(seq "$rounds"); do
  for batch in 1 32; do
    for kind in with without; do
      printf '%s task id, batch %s, round %s: ' "$kind" "$batch" "$round"
      "$became" bench-infer --http "http://127.0.0.1:$http/" --token "$token" --request "$work/$kind-$batch.json" \
        --rate "$rate" --seconds "$seconds" | tail -1
    done
  done
done
