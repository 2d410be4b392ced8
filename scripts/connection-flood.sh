#!/usr/bin/env bash
# Hostile clients against a real `sequent serve` (CI runs this after `make test`): 1,000 idle connections plus 300
# slowloris connections held for 20 s while /healthz is timed from fresh connections; every probe must be answered
# with p99 under 100 ms (scripts/connection-flood.py). About 30 s.
#   scripts/connection-flood.sh [connection-flood.py arguments, e.g. --seconds 5]
#   SEQUENT_BIN=.build/release/sequent scripts/connection-flood.sh     (default: the debug build, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SEQUENT_BIN:-.build/debug/sequent}
[ -x "$bin" ] || swift build --product sequent
work=$(mktemp -d -t sequent-flood.XXXXXX)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT
: > "$work/serve.log"
"$bin" serve --port 0 --data-dir "$work/data" > "$work/serve.log" 2>&1 &
server=$!
url=""
for _ in $(seq 300); do
    url=$(sed -n 's|.*listening on \(http://[0-9.:]*\).*|\1|p' "$work/serve.log" | head -n 1)
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.05
done
[ -n "$url" ] || { echo "connection-flood: the server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
python3 scripts/connection-flood.py "${url##*:}" "$server" "$@"
