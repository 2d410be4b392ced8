#!/usr/bin/env bash
# Disk full while training: `sequent serve` gets a data directory on a small tmpfs (a loop-mounted ext4 image
# when tmpfs cannot be mounted), sized so the database fits but checkpoints and models do not:
#   1. a job whose second epoch checkpoint hits ENOSPC mid-write,
#   2. a job whose checkpoint fits but whose trained model does not,
#   3. the disk filled to the last byte, so SQLite itself gets SQLITE_FULL on a submit, then freed again.
# Each job must fail with a user-facing reason about disk space (no paths, no Foundation error text), the
# server must keep answering, and no record may point at a missing or half-written file, with no temporary
# file left (scripts/check-data-dir.py). Needs root (mount). About 30 s. Prints `N passed, N failed` last.
#
#   scripts/disk-full.sh                 # uses .build/debug/sequent (built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${SEQUENT_BIN:-$ROOT/.build/debug/sequent}
[ "$(id -u)" -eq 0 ] || { echo "disk-full: needs root to mount a small file system"; echo "0 passed, 1 failed"; exit 1; }
. "$ROOT/scripts/lib/checks.sh"
need_tools disk-full
[ -x "$BIN" ] || swift build --product sequent


WORK=$(mktemp -d -t sequent-diskfull.XXXXXX)
DATA=$WORK/data
LOG=$WORK/server.log
IMAGE=""
SERVER_PID=""
mkdir -p "$DATA"
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    mountpoint -q "$DATA" && umount "$DATA"
    [ -n "$IMAGE" ] && rm -f "$IMAGE"
    rm -rf "$WORK"
}
trap cleanup EXIT

# 45 MiB: the database and one 39 MB checkpoint (weights and Adam's two moments of 3.2M parameters) fit; two
# checkpoints do not (job 1's second epoch), nor one checkpoint and the 13 MB model (job 2).
SIZE_MB=45
if mount -t tmpfs -o size=${SIZE_MB}m tmpfs "$DATA" 2>/dev/null; then
    echo "disk-full: tmpfs of $SIZE_MB MiB at $DATA"
else
    IMAGE=$WORK.img
    truncate -s $((SIZE_MB + 4))M "$IMAGE"
    mkfs.ext4 -q -m 0 "$IMAGE" && mount -o loop "$IMAGE" "$DATA" || {
        echo "disk-full: neither a tmpfs nor a loop device can be mounted here"; fail "mount a small file system"; finish; }
    echo "disk-full: ext4 loop image of $SIZE_MB MiB at $DATA"
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
"$BIN" serve --port "$PORT" --data-dir "$DATA" --workers 1 --threads-per-job 2 >/dev/null 2>"$LOG" &
SERVER_PID=$!
deadline=$((SECONDS + 30))
until curl -sf -m 2 "$URL/healthz" >/dev/null 2>&1; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then fail "server start"; tail -n 20 "$LOG"; finish; fi
    sleep 0.05
done

spec() {  # name epochs optimizer
    python3 - "$@" <<'EOF'
import json, sys
name, epochs, optimizer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print(json.dumps({
    "name": name,
    "dataset": {"name": "fashion_mnist", "validation": "test", "train_limit": 512, "test_limit": 128},
    "model": {"input_shape": [28, 28, 1], "layers": [
        {"type": "Flatten"}, {"type": "Dense", "units": 4096, "activation": "relu"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "compile": {"optimizer": optimizer, "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
    "fit": {"epochs": epochs, "batch_size": 32, "steps_per_epoch": 4, "seed": 1}}))
EOF
}
submit() { curl -s -o "$WORK/answer" -w '%{http_code}' -X POST "$URL/v1/jobs" -H 'Content-Type: application/json' -d "$1"; }
job_id() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/answer"; }

# Waits (deadline 60 s) for a job to finish, then checks it failed for lack of disk space, in user's words.
expect_disk_full_failure() {  # id what expected_epochs
    local id=$1 what=$2 epochs=$3 deadline=$((SECONDS + 60)) state=""
    while [ $SECONDS -lt $deadline ]; do
        state=$(curl -sf -m 5 "$URL/v1/jobs/$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])') || state=""
        case "$state" in succeeded|failed|cancelled) break ;; esac
        sleep 0.2
    done
    if out=$(python3 - "$URL" "$id" "$epochs" <<'EOF'
import json, sys, urllib.request
url, id, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
job = json.load(urllib.request.urlopen(f"{url}/v1/jobs/{id}"))
epochs = [e["epoch"] for e in json.load(urllib.request.urlopen(f"{url}/v1/jobs/{id}/epochs"))["epochs"]]
error = job.get("error") or ""
problems = []
if job["state"] != "failed":
    problems.append(f"state {job['state']}")
if "space" not in error or "disk" not in error:
    problems.append("the error does not say the disk is full")
for bad in ("Domain=", "NSCocoa", "/", ".tmp", "errno", "SQLite error"):
    if bad in error:
        problems.append(f"the error shows {bad!r}")
if epochs != list(range(1, want + 1)):
    problems.append(f"epochs {epochs}, expected 1..{want}")
if job.get("model_id"):
    problems.append("a model was recorded")
print(("; ".join(problems) + " — ") if problems else "", f"error: {error!r}", sep="")
sys.exit(1 if problems else 0)
EOF
    ); then pass "$what: failed, $out"; else fail "$what: $out"; fi
}

code=$(submit "$(spec disk-full-checkpoint 3 adam)")
[ "$code" = 201 ] && pass "job 1 queued" || { fail "job 1 submit: $code $(cat "$WORK/answer")"; finish; }
expect_disk_full_failure "$(job_id)" "job 1 (second checkpoint does not fit)" 1

code=$(submit "$(spec disk-full-model 1 adam)")
[ "$code" = 201 ] && pass "job 2 queued" || { fail "job 2 submit: $code $(cat "$WORK/answer")"; finish; }
expect_disk_full_failure "$(job_id)" "job 2 (the trained model does not fit)" 1

# The disk filled to the last byte: SQLite itself cannot grow. The server must answer, not crash.
dd if=/dev/zero of="$DATA/filler" bs=1M status=none 2>/dev/null || true
dd if=/dev/zero of="$DATA/filler2" bs=4k status=none 2>/dev/null || true
code=$(submit "$(spec while-full 1 sgd)")
body=$(cat "$WORK/answer")
if [ "$code" = 507 ] && grep -q insufficient_storage <<<"$body" && ! grep -q "SQLite\|INSERT" <<<"$body"; then
    pass "submit on a full disk: 507 insufficient_storage"
else
    fail "submit on a full disk: $code $body"
fi
for route in /healthz /v1/jobs /v1/models /metrics; do
    c=$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$URL$route")
    [ "$c" = 200 ] && pass "GET $route answers 200 on a full disk" || fail "GET $route on a full disk: $c"
done
kill -0 "$SERVER_PID" 2>/dev/null && pass "server still running" || { fail "server died"; tail -n 30 "$LOG"; }

# Space again: the same server takes and trains a job (a small model).
rm -f "$DATA/filler" "$DATA/filler2"
small=$(spec after-full 1 sgd | python3 -c 'import json, sys; s = json.load(sys.stdin); s["model"]["layers"][1]["units"] = 32; print(json.dumps(s))')
code=$(submit "$small")
if [ "$code" = 201 ]; then
    id=$(job_id) deadline=$((SECONDS + 60)) state=""
    while [ $SECONDS -lt $deadline ]; do
        state=$(curl -sf -m 5 "$URL/v1/jobs/$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])') || state=""
        case "$state" in succeeded|failed|cancelled) break ;; esac
        sleep 0.2
    done
    [ "$state" = succeeded ] && pass "after space is freed a job succeeds" || fail "job after freeing space: $state"
else
    fail "submit after freeing space: $code $(cat "$WORK/answer")"
fi

stop_gracefully "$SERVER_PID"
SERVER_PID=""
check_data_dir "$DATA" "$LOG"
finish
