#!/usr/bin/env bash
# Unit tests of the dashboard's pure modules (Public/js: smoothing, ticks, decimation, the JSON-path locator,
# CSV, spec helpers) with node's built-in test runner: no browser, no server, no npm packages.
#
#   scripts/test-dashboard-unit.sh              # every Tests/dashboard/unit/*.test.mjs
#   scripts/test-dashboard-unit.sh --test-reporter=spec
#
# Needs node ≥ 20. Exits with the runner's status.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null 2>&1 || { echo "node is not installed (node ≥ 20 runs the dashboard unit tests)"; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "node $major is too old: the dashboard unit tests need node ≥ 20"; exit 1; }
exec node --test "$@" Tests/dashboard/unit/
