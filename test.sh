#!/usr/bin/env bash
# Runs the whole test suite (after installing what it needs) and prints "N passed, N failed".
# Fast suite (no agent, broker, child process or training): ./test.sh --filter "Speed!=Slow" (extra arguments go to dotnet test).
set -uo pipefail
cd "$(dirname "$0")"
scripts/setup.sh || exit 1

results=TestResults
rm -rf "$results"
dotnet test Became.sln -c Release --logger "trx" --results-directory "$results" "$@"
status=$?

passed=0; failed=0; total=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { printf '%s' "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  passed=$((passed + $(get passed))); failed=$((failed + $(get failed))); total=$((total + $(get total)))
done
not_run=$((total - passed - failed))
[ "$not_run" -gt 0 ] && echo "test.sh: $not_run tests neither passed nor failed (skipped or not run)" >&2
if [ "$total" -eq 0 ]; then
  echo "test.sh: no test results found" >&2
  status=1
fi
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed"
exit $status
