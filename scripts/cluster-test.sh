#!/usr/bin/env bash
# The cluster end to end, on one machine with a real PostgreSQL: two `sequent serve --workers 0` replicas and two
# `sequent worker` processes on one throwaway database (scripts/with-postgres.sh). scripts/cluster_test.py drives
# them: six jobs submitted to replica A while one worker is killed with -9 mid-training (every job succeeds exactly
# once, epochs 1..E), a cancel sent to replica A stops a job a worker runs, replica B streams that job's progress,
# and both replicas give the same prediction for the same model; then PostgreSQL restarts under them. Run twice:
# artifacts in PostgreSQL, then in a shared directory. Prints PASS/FAIL lines; exits non-zero on a FAIL.
#
#   scripts/cluster-test.sh            # builds the release binary first if needed
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${SEQUENT_BIN:-.build/release/sequent}
if [ ! -x "$BIN" ] || [ -n "$(find Sources Package.swift -newer "$BIN" -print -quit)" ]; then
    swift build -c release 2>&1 | grep -E 'error|warning: |Compiling|Build complete' | tail -3
fi
./scripts/with-postgres.sh python3 scripts/cluster_test.py "$BIN"
# The same with the artifacts in a directory all processes share instead of in the database.
./scripts/with-postgres.sh python3 scripts/cluster_test.py "$BIN" --shared-artifacts
