#!/usr/bin/env bash
# Browser test of the dashboard: headless Chromium (Debian's chromium + chromium-driver, driven by Selenium)
# against a real `sequent serve` on a free port with an empty data directory.
#
#   scripts/test-dashboard.sh            # installs what is missing, builds, runs Tests/dashboard with pytest
#   scripts/test-dashboard.sh -k predict # extra arguments go to pytest
#
# Environment: SEQUENT_SCRATCH_PATH (swift build --scratch-path, default .build), SEQUENT_DASHBOARD_VENV (default
# .venv-dashboard). Screenshots go to artifacts/screenshots/. Exits with pytest's status.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCRATCH=${SEQUENT_SCRATCH_PATH:-.build}
VENV=${SEQUENT_DASHBOARD_VENV:-$ROOT/.venv-dashboard}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. System packages, only when missing.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}…"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Selenium and pytest in a virtual environment, only when missing.
if ! "$VENV/bin/python" -c 'import selenium, pytest' >/dev/null 2>&1; then
  echo "installing selenium and pytest into $VENV…"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check selenium pytest
fi
[ -f "$VENV/.gitignore" ] || printf '*\n' > "$VENV/.gitignore"   # never committed

# 3. Build.
. scripts/lib/serve.sh
build_sequent "$SCRATCH"

# 4. Start the server; its first stdout line names the port.
DATA=$(mktemp -d -t sequent-dashboard.XXXXXX)
cleanup() { stop_sequent; rm -rf "$DATA"; }
trap cleanup EXIT
SEQUENT_METRICS_EVERY=${SEQUENT_METRICS_EVERY:-5} start_sequent "$BIN" "$DATA" --workers 1
export SEQUENT_URL="http://127.0.0.1:$PORT"
echo "sequent serve on $SEQUENT_URL (pid $SERVER_PID)"

# 5. The browser test.
mkdir -p artifacts/screenshots
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider Tests/dashboard "$@"
STATUS=$?
set -e
if [ "$STATUS" -ne 0 ]; then echo "--- server log (last 40 lines) ---"; tail -n 40 "$DATA/server.log"; fi
exit "$STATUS"
