# Shared by the check scripts that run against a real `sequent serve` (crash-soak.sh, disk-full.sh): PASS/FAIL
# lines, the closing 'N passed, N failed' line CI reads, and the command-line tools they need.

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
# Prints the closing line and exits non-zero when anything failed.
finish() {
    echo "$passed passed, $failed failed"
    if [ "$failed" -eq 0 ]; then exit 0; fi
    exit 1
}

# Installs curl and python3 when missing (as root: CI and the quick start run as root or with sudo).
need_tools() {
    local tool
    for tool in curl python3; do
        command -v "$tool" >/dev/null && continue
        [ "$(id -u)" -eq 0 ] || { echo "$1: $tool is missing" >&2; exit 1; }
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl python3 >/dev/null
    done
}

# Stops the server with SIGTERM (graceful) and checks that it exited within 30 s.
stop_gracefully() {
    kill -TERM "$1"
    local deadline=$((SECONDS + 30))
    while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if kill -0 "$1" 2>/dev/null; then fail "server did not stop on SIGTERM"; else pass "server stopped on SIGTERM"; fi
}

# Checks a data directory against its records (scripts/check-data-dir.py) and counts its PASS/FAIL lines; on any
# failure shows the end of the server log $2.
check_data_dir() {
    local report
    set +e
    report=$(python3 "$ROOT/scripts/check-data-dir.py" "$1")
    set -e
    echo "$report"
    passed=$((passed + $(awk '/^PASS/ {n++} END {print n + 0}' <<<"$report")))
    failed=$((failed + $(awk '/^FAIL/ {n++} END {print n + 0}' <<<"$report")))
    if [ "$failed" -gt 0 ]; then echo "--- server log (last 40 lines) ---"; tail -n 40 "$2"; fi
}
