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
