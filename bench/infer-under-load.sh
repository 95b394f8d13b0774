#!/usr/bin/env bash
# Inference under load: starts `became run` (embedded broker, HTTP on loopback with a token), teaches it split-fmnist
# task 0, then runs `became bench-infer` over HTTP and over MQTT at the same steady rate — idle, then while task 1
# (all 12,000 images, up to 100 epochs per stage) trains — and prints requests/s and p50/p99 latency for each.
#   bench/infer-under-load.sh [--rate 50] [--seconds 20] [--batch 1]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dotnet build src/Became.Cli -c Release -nologo -v q >/dev/null
became=src/Became.Cli/bin/Release/net10.0/linux-x64/became
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mqtt=$(free_port); http=$(free_port); token=bench-infer-token-0123456789
work=$(mktemp -d)
agent=
cleanup() { [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$became" run --device-id bench --data-dir "$work" --embedded-port "$mqtt" --http-urls "http://127.0.0.1:$http" \
  --HttpToken="$token" --epochs 100 >"$work/agent.log" 2>&1 &
agent=$!
wait_for() { # wait_for DESCRIPTION COMMAND...: polls every 0.2 s for 300 s
  local what=$1; shift
  for _ in $(seq 1500); do "$@" >/dev/null 2>&1 && return 0; kill -0 "$agent" 2>/dev/null || { cat "$work/agent.log" >&2; exit 1; }; sleep 0.2; done
  echo "infer-under-load: timed out waiting for $what" >&2; exit 1
}
tasks() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http/tasks"; }
wait_for "the HTTP endpoint" curl -s -o /dev/null "http://127.0.0.1:$http/healthz"
"$became" publish --broker "127.0.0.1:$mqtt" --device bench --stream split-fmnist --tasks 0 --samples 2000 >/dev/null
wait_for "task 0 to be deployed" curl -sf -o /dev/null "http://127.0.0.1:$http/healthz"

measure() {
  "$became" bench-infer --http "http://127.0.0.1:$http/" --token "$token" --task split-fmnist-0 "$@"
  "$became" bench-infer --broker "127.0.0.1:$mqtt" --device bench --task split-fmnist-0 "$@"
}
echo "== idle (model version 1 deployed, nothing training)"
measure "$@"

"$became" publish --broker "127.0.0.1:$mqtt" --device bench --stream split-fmnist --tasks 1 >/dev/null
wait_for "task 1 to be accepted" sh -c "curl -sf -H 'Authorization: Bearer $token' http://127.0.0.1:$http/tasks | grep -q split-fmnist-1"
echo "== while split-fmnist-1 trains (12,000 images, up to 100 epochs per stage)"
measure "$@"
if tasks | /usr/bin/python3 -c 'import json,sys; t={x["id"]: x["state"] for x in json.load(sys.stdin)}; sys.exit(0 if t.get("split-fmnist-1") == "queued" else 1)'; then
  echo "task split-fmnist-1 was still training when the measurement ended"
else
  echo "WARNING: split-fmnist-1 finished before the measurement ended; use fewer --seconds" >&2
fi
