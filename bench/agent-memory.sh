#!/usr/bin/env bash
# The agent's memory over ten tasks: starts `became run` (embedded broker) from a fresh copy of the build, publishes
# the five split-fmnist tasks (all 12,000 images each) twice with `became publish --wait deployed`, and prints the
# process's RSS idle, after 5 tasks, after 10, and 60 s later, its peak, and each job's memory line.
# A fresh copy, because a libtorch_cpu.so the page cache holds in huge pages (a hot build folder) adds ~50 MB of RSS.
#   bench/agent-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dotnet build src/Became.Cli -c Release -nologo -v q >/dev/null
work=$(mktemp -d)
cp -r src/Became.Cli/bin/Release/net10.0/linux-x64 "$work/app"
became="$work/app/became"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
agent=
cleanup() { [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$became" run --device-id memory --data-dir "$work/data" --embedded-port "$port" >"$work/agent.log" 2>&1 &
agent=$!
for _ in $(seq 600); do grep -q "listening on" "$work/agent.log" && break; kill -0 "$agent" || { cat "$work/agent.log" >&2; exit 1; }; sleep 0.2; done
mib() { awk -v key="$1" '$1 == key { printf "%d MiB", $2 / 1024 }' "/proc/$agent/status"; }
sleep 5
echo "idle:       $(mib VmRSS:)"
"$became" publish --broker "127.0.0.1:$port" --device memory --stream split-fmnist --id-prefix a --wait deployed >/dev/null
sleep 2
echo "after 5:    $(mib VmRSS:)"
"$became" publish --broker "127.0.0.1:$port" --device memory --stream split-fmnist --id-prefix b --wait deployed >/dev/null
sleep 2
echo "after 10:   $(mib VmRSS:)"
sleep 60
echo "60 s later: $(mib VmRSS:)"
echo "peak:       $(mib VmHWM:)"
grep "Memory of job" "$work/agent.log" | sed 's/.*Memory of job/Memory of job/'
