#!/usr/bin/env bash
# Hostile clients against a real `sequent serve` (CI runs this after `make test`): 1,000 idle connections plus 300
# slowloris connections held for 20 s while /healthz is timed from fresh connections; every probe must be answered
# with p99 under 100 ms (scripts/connection-flood.py). About 30 s.
#   scripts/connection-flood.sh [BINARY] [-- extra connection-flood.py arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/sequent}
shift $(($# > 0 ? 1 : 0))
[ "${1:-}" = "--" ] && shift
[ -x "$bin" ] || swift build --product sequent
work=$(mktemp -d -t sequent-flood.XXXXXX)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT
"$bin" serve --port 0 --data-dir "$work/data" > "$work/serve.log" 2>&1 &
server=$!
url=""
for _ in $(seq 300); do
    url=$(grep -o "listening on http://[0-9.:]*" "$work/serve.log" | awk '{print $3}')
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.05
done
[ -n "$url" ] || { echo "connection-flood: the server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
python3 scripts/connection-flood.py "${url##*:}" "$server" "$@"
