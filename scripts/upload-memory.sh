#!/usr/bin/env bash
# Measures what a large dataset upload costs the server in memory: starts `sequent serve` on a scratch data folder,
# uploads a ~200 MB archive of incompressible "images" in several ways (raw and multipart, tar.gz and zip,
# Content-Length and chunked), and prints the server's peak resident size (VmHWM) around each upload. The peak is
# reset before each one (`echo 5 > /proc/PID/clear_refs`), so each line is that upload's own peak.
#
#   scripts/upload-memory.sh                 # uses .build/debug/sequent (run `swift build` first)
#   SEQUENT=path/to/sequent MB=200 scripts/upload-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${SEQUENT:-.build/debug/sequent}"
megabytes="${MB:-200}"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Two classes of 1 MiB random files: compression cannot shrink them, so the archive is as large as the data.
for cls in boots shoes; do
    mkdir -p "$work/tree/train/$cls"
    for i in $(seq 1 $((megabytes / 2))); do
        head -c 1048576 /dev/urandom > "$work/tree/train/$cls/$i.jpg"
    done
done
tar -czf "$work/upload.tar.gz" -C "$work/tree" .
(cd "$work/tree" && zip -q -r -0 "$work/upload.zip" .)
rm -rf "$work/tree"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# OPENBLAS_CORETYPE set up front (the binary's own choice for this CPU), so the binary does not re-execute
# itself (the pid stays the server's).
. scripts/lib/openblas-core.sh
export_openblas_core
"$binary" serve --port "$port" --data-dir "$work/data" \
    > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break
    sleep 0.1
done

status() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$server_pid/status"; }
mb() { echo "$(( $1 / 1024 ))"; }

echo "server pid $server_pid, peak RSS since start $(mb "$(status VmHWM)") MB"
printf '%-30s %8s %6s %12s %13s %10s\n' "upload" "archive" "HTTP" "RSS before" "peak during" "rise"
measure() {
    local label="$1" file="$2"; shift 2
    echo 5 > "/proc/$server_pid/clear_refs"   # peak := current
    local before; before="$(status VmRSS)"
    local code; code="$(curl -s -o "$work/answer.json" -w '%{http_code}' "$@")"
    local peak; peak="$(status VmHWM)"
    printf '%-30s %5s MB %6s %9s MB %10s MB %7s MB\n' "$label" "$(( $(stat -c %s "$file") / 1048576 ))" "$code" \
        "$(mb "$before")" "$(mb "$peak")" "$(mb $((peak - before)))"
    [ "$code" = 201 ] || echo "    $(head -c 300 "$work/answer.json")"
    curl -s -X DELETE "http://127.0.0.1:$port/v1/datasets/m" > /dev/null
}

base="http://127.0.0.1:$port/v1/datasets"
measure "raw tar.gz (Content-Length)" "$work/upload.tar.gz" --data-binary "@$work/upload.tar.gz" \
    -H 'Content-Type: application/gzip' "$base?name=m"
measure "multipart tar.gz (curl -F)" "$work/upload.tar.gz" -F name=m -F "file=@$work/upload.tar.gz" "$base"
measure "raw tar.gz (chunked)" "$work/upload.tar.gz" -T "$work/upload.tar.gz" -X POST \
    -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/gzip' "$base?name=m"
measure "raw zip (Content-Length)" "$work/upload.zip" --data-binary "@$work/upload.zip" \
    -H 'Content-Type: application/zip' "$base?name=m"
measure "multipart zip (curl -F)" "$work/upload.zip" -F name=m -F "file=@$work/upload.zip" "$base"
echo "server peak RSS is reset before each upload, so 'peak during' is that upload's own; the dataset is deleted after"
