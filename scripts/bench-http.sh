#!/usr/bin/env bash
# HTTP throughput and tail latency of `sequent serve` with wrk, for builds side by side in one sitting:
#   scripts/bench-http.sh [BINARY ...]      (default: .build/release/sequent)
# Trains one small fashion-dense model through the API (with the first binary), then for each binary in turn, twice
# over (A B A B, because this machine's speed drifts), runs wrk against GET /healthz, GET /v1/jobs/{id} and a
# 28×28 PNG predict, with 16 and 256 connections, and a 12-megapixel JPEG predict (what a phone uploads: decode
# dominates) with 1 and 4 connections. Prints one line per run: requests/s, p50, p99.
# PHOTO=path.jpg uploads that photo instead of the generated one (a Fashion-MNIST image upscaled to 3464×3464,
# smoother than a real photo, so its entropy decoding is cheaper); PHOTO="a.jpg b.jpg" runs each.
# scripts/make-phone-photo.py writes realistic ones (a 5 MB phone-like photo, a 10 MB worst case).
# PHOTO_ONLY=1 skips the small requests. PHOTO_ROUTES (default "raw") picks how the photo is sent, any of:
#   raw        POST /v1/models/{id}/predict, Content-Type: image/jpeg
#   multipart  the same route, multipart/form-data with one file part
#   b64        the same route, {"instances": [{"b64": …}]}
#   tfserving  POST /v1/models/{id}:predict, {"instances": [{"b64": …}]}
# RGB150=1 also trains a 150×150 RGB binary model (the horses-or-humans-150 recipe, 1 epoch on a folder of
# exported images) and runs the photo against it too. ROUNDS (default 2) sets the A B A B repetitions.
# Needs wrk (apt-get install wrk).
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

# A folder of 150×150 JPEGs (two classes) for the RGB model, in the server's datasets root.
if [ "${RGB150:-}" = 1 ]; then
    mkdir -p "$work/data/datasets"
    "${bins[0]}" export-images "$work/data/datasets/bench150" --classes 0,9 --limit 150 --format jpeg --size 150 \
        --split train >/dev/null
fi
start "${bins[0]}"
read -r job model model150 < <(python3 - "$url" "${RGB150:-}" <<'PY'
import json, sys, time, urllib.request
url, rgb150 = sys.argv[1], sys.argv[2] == "1"
def train(spec):
    req = urllib.request.Request(url + "/v1/jobs", json.dumps(spec).encode(), {"Content-Type": "application/json"})
    job = json.load(urllib.request.urlopen(req))
    while job["state"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.2)
        job = json.load(urllib.request.urlopen(f"{url}/v1/jobs/{job['id']}"))
    if job["state"] != "succeeded":
        sys.exit(f"bench-http: training {spec['name']} {job['state']}: {job.get('error')}")
    return job
spec = json.load(open("config/jobs/fashion-dense.json"))
spec["fit"]["epochs"] = 1
spec["dataset"]["train_limit"] = 2000
job = train(spec)
model150 = "-"
if rgb150:
    spec = json.load(open("config/jobs/horses-or-humans-150.json"))
    spec["dataset"]["directory"] = "bench150"
    spec["fit"]["epochs"] = 1
    model150 = train(spec)["model_id"]
print(job["id"], job["model_id"], model150)
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
photos=(${PHOTO:-})
if [ ${#photos[@]} -eq 0 ]; then
    "${bins[0]}" export-images "$work/photo" --classes 9 --limit 1 --format jpeg --size 3464 --invert >/dev/null
    photos=("$(ls "$work"/photo/*/*.jpg | head -1)")
fi
routes=(${PHOTO_ROUTES:-raw})
# One request body per photo and route, built once (wrk sends it as it is).
for p in "${!photos[@]}"; do
    echo "photo $p: ${photos[$p]} ($(stat -c %s "${photos[$p]}") bytes)"
    for r in "${routes[@]}"; do
        python3 - "${photos[$p]}" "$r" "$work/body-$p-$r" <<'PY'
import base64, json, sys
photo, route, out = sys.argv[1:]
data = open(photo, "rb").read()
if route == "raw":
    body, kind = data, "image/jpeg"
elif route == "multipart":
    boundary = "sequentbenchboundary7MA4YWxk"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    kind = f"multipart/form-data; boundary={boundary}"
elif route in ("b64", "tfserving"):
    body = json.dumps({"instances": [{"b64": base64.b64encode(data).decode()}]}).encode()
    kind = "application/json"
else:
    sys.exit(f"bench-http: unknown PHOTO_ROUTES entry {route} (raw, multipart, b64, tfserving)")
open(out, "wb").write(body)
open(out + ".type", "w").write(kind)
PY
        cat > "$work/photo-$p-$r.lua" <<LUA
wrk.method = "POST"
local f = io.open("$work/body-$p-$r", "rb"); wrk.body = f:read("*all"); f:close()
wrk.headers["Content-Type"] = "$(cat "$work/body-$p-$r.type")"
LUA
    done
done

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
    printf '%-36s %-30s c=%-4s %10s req/s  p50 %-9s p99 %-9s %s\n' "$1" "$3" "$2" "$rps" "$p50" "$p99" "$errors"
}

models=("$model")
[ "$model150" != "-" ] && models+=("$model150")
for i in "${!bins[@]}"; do echo "build $((i + 1)): ${bins[$i]}"; done
echo "models: ${models[*]} (fashion-dense 28×28×1${RGB150:+, horses-or-humans-150 150×150×3})"
for round in $(seq "${ROUNDS:-2}"); do
    for i in "${!bins[@]}"; do
        bin=${bins[$i]}
        start "$bin"
        label="build $((i + 1)), round $round"
        if [ "${PHOTO_ONLY:-}" != 1 ]; then
            for c in 16 256; do
                run "$label" "$c" /healthz
                run "$label" "$c" "/v1/jobs/$job"
                run "$label" "$c" "/v1/models/$model/predict" "$work/post.lua"
            done
        fi
        for m in "${models[@]}"; do
            for p in "${!photos[@]}"; do
                for r in "${routes[@]}"; do
                    path="/v1/models/$m/predict"
                    [ "$r" = tfserving ] && path="/v1/models/$m:predict"
                    for c in 1 4; do
                        run "$label, photo $p $r" "$c" "$path" "$work/photo-$p-$r.lua"
                    done
                done
            done
        done
        stop
    done
done
