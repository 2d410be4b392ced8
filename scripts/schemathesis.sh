#!/usr/bin/env bash
# Checks that /openapi.json is the contract: schemathesis (every check, examples + coverage + fuzzing + stateful
# phases, a fixed seed, a bounded number of examples) against a real `sequent serve` on a free port with an empty
# data directory, twice — without a token, and with one (every request then carries it, so the secured routes are
# exercised past the 401; the 401s themselves are documented and checked by the coverage phase).
#
#   scripts/schemathesis.sh               # installs what is missing, builds (debug), runs both passes
#   scripts/schemathesis.sh --workers 1   # extra arguments go to `schemathesis run`
#
# Environment: SEQUENT_SCRATCH_PATH (swift build --scratch-path, default .build), SEQUENT_SCHEMATHESIS_VENV (default
# .venv-schemathesis), SCHEMATHESIS_SEED (default 20250101), SCHEMATHESIS_MAX_EXAMPLES (default 25).
# Exits non-zero on any failure. Costs about 2 minutes on a 2-core machine once built.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCRATCH=${SEQUENT_SCRATCH_PATH:-.build}
VENV=${SEQUENT_SCHEMATHESIS_VENV:-$ROOT/.venv-schemathesis}
SEED=${SCHEMATHESIS_SEED:-20250101}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-25}
VERSION=4.32.5

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. schemathesis (pinned) in a virtual environment, only when missing.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
}
if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$VERSION" ]; then
  echo "installing schemathesis $VERSION into $VENV…"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi
[ -f "$VENV/.gitignore" ] || printf '*\n' > "$VENV/.gitignore"   # never committed

# 2. Build (a no-op after `make test`).
if [ "$SCRATCH" = ".build" ]; then swift build; else swift build --scratch-path "$SCRATCH"; fi
BIN="$SCRATCH/debug/sequent"

WORK=$(mktemp -d -t sequent-schemathesis.XXXXXX)
. scripts/lib/serve.sh
stop_server() { stop_sequent; }
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT

# 3. Starts `sequent serve` with a fresh data directory and sets PORT. Submitted jobs really train: one worker with
# one thread, a short queue (the 429 path gets exercised too) and a tiny parameter limit keep the machine free.
start_server() {
  local data="$WORK/data-$1"
  shift
  start_sequent "$BIN" "$data" --workers 1 --threads-per-job 1 --max-queued-jobs 20 --max-parameters 200000 "$@"
  SERVER_LOG="$data/server.log"
  local deadline=$((SECONDS + 60))
  until "$VENV/bin/python" -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)" \
      "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "no /healthz answer"; cat "$data/server.log"; exit 1; }
    sleep 0.1
  done
  echo "sequent serve on http://127.0.0.1:$PORT (pid $SERVER_PID)"
}

# 4. One schemathesis run; its exit status is the pass's.
run_schemathesis() {
  local name=$1
  shift
  local started=$SECONDS
  set +e
  "$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "http://127.0.0.1:$PORT/openapi.json" \
    --checks all --seed "$SEED" \
    --max-examples "$MAX_EXAMPLES" --phases examples,coverage,fuzzing,stateful --request-timeout 30 \
    --generation-database none --no-color "$@"
  local status=$?
  set -e
  echo "schemathesis ($name): exit $status in $((SECONDS - started)) s"
  if [ "$status" -ne 0 ]; then echo "--- server log (last 40 lines) ---"; tail -n 40 "$SERVER_LOG"; fi
  return "$status"
}

STATUS=0
start_server open
run_schemathesis "no token" "$@" || STATUS=1
stop_server

TOKEN="schemathesis-$RANDOM$RANDOM"
start_server token --token "$TOKEN"
run_schemathesis "with a token" -H "Authorization: Bearer $TOKEN" "$@" || STATUS=1
stop_server
exit "$STATUS"
