#!/usr/bin/env bash
# Runs every test: unit tests (tests/) and VM scenarios (vm-tests/), after installing what they
# need. Prints one closing line "N passed, N failed[, N skipped]"; exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

results="${KDS_TEST_RESULTS:-$PWD/artifacts/test-results}"
rm -rf "$results" && mkdir -p "$results"
dotnet build KdumpSharp.sln -c Release -nologo -v quiet || { echo "0 passed, 1 failed"; exit 1; }

status=0
for project in tests/KdumpSharp.Tests vm-tests/KdumpSharp.VmTests; do
  name=$(basename "$project")
  dotnet test "$project" -c Release --no-build -nologo \
    --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
    --logger "console;verbosity=normal" 2>&1 | tee "$results/$name.log" || status=1
done

# Sum the per-assembly summaries the console logger prints after "Total tests: N":
# indented "Passed: N", "Failed: N" and "Skipped: N" lines (per-test lines have no colon).
read -r passed failed skipped < <(grep -hE '^ +(Passed|Failed|Skipped): +[0-9]+$' "$results"/*.log |
  awk -F': +' '/Passed/ {p+=$2} /Failed/ {f+=$2} /Skipped/ {s+=$2} END {print p+0, f+0, s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
# CI keeps only the end of the output: name each failed test and its message right above the summary.
if [ "$failed" -ne 0 ]; then
  echo "Failed tests (full logs in $results):"
  grep -h -A14 -E '^ +Failed .+ \[[^]]+\]$' "$results"/*.log | head -n 300
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
