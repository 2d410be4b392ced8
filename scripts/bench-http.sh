#!/usr/bin/env bash
# HTTP throughput and tail latency of `sequent serve` with wrk, for builds side by side in one sitting:
#   scripts/bench-http.sh [BINARY ...]      (default: .build/release/sequent)
# Trains one small fashion-dense model through the API (with the first binary), then for each binary in turn, twice
# over (A B A B, because this machine's speed drifts), runs wrk against GET /healthz, GET /v1/jobs/{id} and a
# 28×28 PNG predict, with 16 and 256 connections, and a 12-megapixel JPEG predict (what a phone uploads: decode
# dominates) with 1 and 4 connections. Prints one line per run: requests/s, p50, p99.
# PHOTO=path.jpg uploads that photo instead of the generated one (a Fashion-MNIST image upscaled to 3464×3464,
# smoother than a real photo, so its entropy decoding is cheaper). Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(.build/release/sequent)
command -v wrk >/dev/null || { echo "bench-http: needs wrk (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d)
server=""
stop() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; server=""; }
trap 'stop; rm -rf "$work"' EXIT

start() {  # binary → sets $server and $url
    : > "$work/serve.log"
    "$1" serve --port 0 --data-dir "$work/data" > "$work/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 200); do grep -q "listening on http" "$work/serve.log" && break; sleep 0.05; done
    url=$(grep -o "listening on http://[0-9.:]*" "$work/serve.log" | awk '{print $3}')
    [ -n "$url" ] || { echo "bench-http: $1 did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
}

start "${bins[0]}"
read -r job model < <(python3 - "$url" <<'PY'
import json, sys, time, urllib.request
url = sys.argv[1]
spec = json.load(open("config/jobs/fashion-dense.json"))
spec["fit"]["epochs"] = 1
spec["dataset"]["train_limit"] = 2000
req = urllib.request.Request(url + "/v1/jobs", json.dumps(spec).encode(), {"Content-Type": "application/json"})
job = json.load(urllib.request.urlopen(req))
while job["state"] not in ("succeeded", "failed", "cancelled"):
    time.sleep(0.2)
    job = json.load(urllib.request.urlopen(f"{url}/v1/jobs/{job['id']}"))
print(job["id"], job["model_id"])
PY
)
stop
"${bins[0]}" export-images "$work/png" --classes 9 --limit 1 --format png >/dev/null
png=$(ls "$work"/png/*/*.png | head -1)
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
local f = io.open("$png", "rb"); wrk.body = f:read("*all"); f:close()
wrk.headers["Content-Type"] = "image/png"
LUA
photo=${PHOTO:-}
if [ -z "$photo" ]; then
    "${bins[0]}" export-images "$work/photo" --classes 9 --limit 1 --format jpeg --size 3464 --invert >/dev/null
    photo=$(ls "$work"/photo/*/*.jpg | head -1)
fi
cat > "$work/photo.lua" <<LUA
wrk.method = "POST"
local f = io.open("$photo", "rb"); wrk.body = f:read("*all"); f:close()
wrk.headers["Content-Type"] = "image/jpeg"
LUA
echo "photo: $photo ($(stat -c %s "$photo") bytes)"

run() {  # label, connections, path, [script]
    local extra=()
    [ -n "${4:-}" ] && extra=(-s "$4")
    local out
    out=$(wrk -t$(($2 < 2 ? $2 : 2)) -c"$2" -d"${DURATION}s" --latency "${extra[@]}" "$url$3" 2>&1)
    local rps p50 p99 errors
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr -s ' ' | paste -sd';' -)
    printf '%-28s %-22s c=%-4s %10s req/s  p50 %-9s p99 %-9s %s\n' "$1" "$3" "$2" "$rps" "$p50" "$p99" "$errors"
}

for i in "${!bins[@]}"; do echo "build $((i + 1)): ${bins[$i]}"; done
for round in 1 2; do
    for i in "${!bins[@]}"; do
        bin=${bins[$i]}
        start "$bin"
        label="build $((i + 1)), round $round"
        for c in 16 256; do
            run "$label" "$c" /healthz
            run "$label" "$c" "/v1/jobs/$job"
            run "$label" "$c" "/v1/models/$model/predict" "$work/post.lua"
        done
        for c in 1 4; do
            run "$label, 12 MP JPEG" "$c" "/v1/models/$model/predict" "$work/photo.lua"
        done
        stop
    done
done
