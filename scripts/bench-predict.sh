#!/usr/bin/env bash
# Predict throughput and latency against a real `sequent serve` (release build):
#   1. trains fashion-dense and fashion-cnn for one epoch through the API,
#   2. wrk uploads a 28×28 PNG to the dense model with 16 and 64 connections (requests/s, p50, p99),
#   3. the same again while a CNN job trains,
#   4. single-request latency of a 300×300 JPEG on the CNN (curl, median of 50).
# Needs wrk (apt-get install wrk). Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/openblas-core.sh
export_openblas_core
DURATION=${DURATION:-10}
bin=.build/release/sequent
swift build -c release --product sequent >/dev/null
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

$bin serve --port 0 --data-dir "$work/data" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "listening on port" "$work/serve.log" && break; sleep 0.1; done
port=$(grep -o "listening on port [0-9]*" "$work/serve.log" | awk '{print $4}')
url=http://127.0.0.1:$port

train() {  # recipe, epochs, train_limit → model id
    python3 - "$1" "$2" "$3" "$url" <<'PY'
import json, sys, time, urllib.request
recipe, epochs, limit, url = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
spec = json.load(open(f"config/jobs/{recipe}.json"))
spec["fit"]["epochs"] = epochs
spec["dataset"]["train_limit"] = limit
req = urllib.request.Request(url + "/v1/jobs", json.dumps(spec).encode(), {"Content-Type": "application/json"})
job = json.load(urllib.request.urlopen(req))
while job["state"] not in ("succeeded", "failed", "cancelled"):
    time.sleep(0.5)
    job = json.load(urllib.request.urlopen(f"{url}/v1/jobs/{job['id']}"))
print(job["model_id"] or "", job["metrics"].get("test_accuracy", ""), file=sys.stderr)
print(job["model_id"])
PY
}
dense=$(train fashion-dense 1 60000)
cnn=$(train fashion-cnn 1 20000)

$bin export-images "$work/png" --classes 9 --limit 1 --format png >/dev/null
$bin export-images "$work/jpg300" --classes 9 --limit 1 --format jpeg --size 300 --invert >/dev/null
png=$(ls "$work"/png/*/*.png | head -1)
jpg=$(ls "$work"/jpg300/*/*.jpg | head -1)
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
local f = io.open("$png", "rb"); wrk.body = f:read("*all"); f:close()
wrk.headers["Content-Type"] = "image/png"
LUA

bench() {  # label, connections
    local out
    out=$(wrk -t2 -c"$2" -d"${DURATION}s" --latency -s "$work/post.lua" "$url/v1/models/$dense/predict")
    printf '%-34s c=%-3s %10s req/s  p50 %-9s p99 %-9s non-2xx %s\n' "$1" "$2" \
        "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(echo "$out" | awk '$1=="50%" {print $2}')" \
        "$(echo "$out" | awk '$1=="99%" {print $2}')" "$(echo "$out" | awk '/Non-2xx/ {print $5}')"
}
echo "dense model $dense, cnn model $cnn, 28×28 PNG $(stat -c %s "$png") bytes, 300×300 JPEG $(stat -c %s "$jpg") bytes"
bench "28x28 PNG → dense" 16
bench "28x28 PNG → dense" 64

# The same while a CNN job trains on the same machine.
python3 - "$url" <<'PY' &
import json, sys, urllib.request
spec = json.load(open("config/jobs/fashion-cnn.json")); spec["fit"]["epochs"] = 3
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/v1/jobs", json.dumps(spec).encode(), {"Content-Type": "application/json"}))
PY
sleep 3
bench "28x28 PNG → dense, CNN training" 16
bench "28x28 PNG → dense, CNN training" 64
curl -s "$url/v1/jobs?state=running" | python3 -c "import json,sys; [print('  training job', j['id'], 'at', j['progress'].get('samples_per_second'), 'samples/s') for j in json.load(sys.stdin)['jobs']]"
for j in $(curl -s "$url/v1/jobs?state=running" | python3 -c "import json,sys; print(' '.join(j['id'] for j in json.load(sys.stdin)['jobs']))"); do
    curl -s -X POST "$url/v1/jobs/$j/cancel" >/dev/null
done
sleep 1

# Single-request latency, 300×300 JPEG → CNN (decode + resize + forward + JSON), measured by curl.
for i in $(seq 60); do
    curl -s -o /dev/null -w '%{time_total}\n' -H 'Content-Type: image/jpeg' --data-binary @"$jpg" "$url/v1/models/$cnn/predict"
done | tail -50 | sort -n | awk '{a[NR]=$1} END {printf "300x300 JPEG → cnn, one at a time:   p50 %.2f ms  p90 %.2f ms  (n=%d, curl total incl. connect)\n", a[int(NR*0.5)]*1000, a[int(NR*0.9)]*1000, NR}'
curl -s -H 'Content-Type: image/jpeg' --data-binary @"$jpg" "$url/v1/models/$cnn/predict?top_k=2"; echo
