#!/usr/bin/env bash
# Crash soak: four jobs of mixed recipes (dense and CNN, adam/rmsprop/sgd, callbacks including model_checkpoint
# and early stopping) train while `sequent serve` is killed with SIGKILL at random moments, at least
# SOAK_KILLS times, and restarted on the same data directory and port. Then every job must have succeeded
# with its epochs 1..E each exactly once (API and SQLite), nothing may be left running, and the data
# directory must check out (scripts/check-data-dir.py: integrity_check, models vs files and SHA-256, no
# orphaned folders or temporary files).
#
#   scripts/crash-soak.sh               # uses .build/debug/sequent (built if missing)
#   SEQUENT_BIN=… SOAK_KILLS=20 SOAK_SEED=7 scripts/crash-soak.sh
#
# The debug build is used: these recipes train at 20–60k samples/s in it, so a release build (2–4 min more
# of CI) would buy nothing. Bounded to about 2 minutes. Prints `N passed, N failed` last.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${SEQUENT_BIN:-$ROOT/.build/debug/sequent}
KILLS=${SOAK_KILLS:-10}
SEED=${SOAK_SEED:-$RANDOM}
RANDOM=$SEED

. "$ROOT/scripts/lib/checks.sh"
need_tools crash-soak
[ -x "$BIN" ] || swift build --product sequent


DATA=$(mktemp -d -t sequent-soak.XXXXXX)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "data kept in $DATA"; else rm -rf "$DATA"; fi
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
echo "crash-soak: seed $SEED, data $DATA, $URL"

# Starts the server and waits (deadline 30 s) until /healthz answers.
start_server() {
    "$BIN" serve --port "$PORT" --data-dir "$DATA" --workers 2 --threads-per-job 1 >>"$DATA/stdout" 2>>"$DATA/server.log" &
    SERVER_PID=$!
    local deadline=$((SECONDS + 30))
    until curl -sf -m 2 "$URL/healthz" >/dev/null 2>&1; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
            fail "server (re)start: /healthz did not answer within 30 s"
            tail -n 30 "$DATA/server.log"
            finish
        fi
        sleep 0.05
    done
}

# The four jobs: the config/jobs recipes, shrunk (fewer samples, steps and epochs) to 10–40 s of training each.
python3 - "$DATA" <<'EOF'
import json, sys
data = sys.argv[1]
def recipe(name):
    return json.load(open(f"config/jobs/{name}.json"))
def shrink(spec, name, epochs, steps, **fit):
    spec["name"] = name
    spec["dataset"].update({"train_limit": 4000, "test_limit": 500})
    spec["fit"].update({"epochs": epochs, "steps_per_epoch": steps, "batch_size": 32}, **fit)
    return spec

dense = shrink(recipe("fashion-dense"), "soak-dense", 40, 300)
callback = shrink(recipe("fashion-callback"), "soak-callback", 40, 300)
callback["compile"]["optimizer"] = {"type": "rmsprop", "learning_rate": 0.0005}
callback["callbacks"] = [{"type": "threshold_stop", "monitor": "accuracy", "above": 0.995},
                         {"type": "model_checkpoint", "filepath": "best-{epoch:02d}", "monitor": "val_loss",
                          "save_best_only": True},
                         {"type": "reduce_lr_on_plateau", "monitor": "val_loss", "patience": 1, "factor": 0.5}]
cnn_small = shrink(recipe("fashion-cnn-small"), "soak-cnn-small", 16, 25)
cnn_small["callbacks"] = [{"type": "terminate_on_nan"},
                          {"type": "early_stopping", "monitor": "val_loss", "patience": 20}]
cnn = shrink(recipe("fashion-cnn"), "soak-cnn", 24, 20)
cnn["model"]["layers"][0]["filters"] = 16
cnn["model"]["layers"][2]["filters"] = 32
cnn["compile"]["optimizer"] = {"type": "sgd", "learning_rate": 0.01, "momentum": 0.9}
cnn["callbacks"] = [{"type": "model_checkpoint", "filepath": "cnn-{epoch:02d}"}]
for i, spec in enumerate([dense, cnn_small, callback, cnn]):
    json.dump(spec, open(f"{data}/job-{i}.json", "w"))
EOF

start_server
JOBS=()
ROUNDS=0
submit_round() {
    local i id
    for i in 0 1 2 3; do
        id=$(curl -sf -X POST "$URL/v1/jobs" -H 'Content-Type: application/json' -d @"$DATA/job-$i.json" |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') || { fail "submit job $i"; finish; }
        JOBS+=("$id")
    done
    ROUNDS=$((ROUNDS + 1))
    echo "round $ROUNDS: 4 jobs submitted"
}
submit_round

unfinished() {
    curl -sf -m 5 "$URL/v1/jobs?limit=50" | python3 -c '
import json, sys
print(sum(j["state"] not in ("succeeded", "failed", "cancelled") for j in json.load(sys.stdin)["jobs"]))'
}

# The experiment: SIGKILL after a random 1–6 s, restart, repeat. Only kills that hit unfinished jobs count: when
# a fast machine has finished every job, another round of the four is submitted (a slow one needs only one).
started=$SECONDS kills=0
while [ "$kills" -lt "$KILLS" ] && [ $((SECONDS - started)) -lt 150 ]; do
    sleep "$((RANDOM % 5 + 1)).$((RANDOM % 1000))"
    left=$(unfinished) || left=unknown
    if [ "$left" = 0 ]; then submit_round; continue; fi
    kill -KILL "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    kills=$((kills + 1))
    echo "kill $kills at $((SECONDS - started)) s ($left job(s) unfinished)"
    start_server
done
if [ "$kills" -ge "$KILLS" ]; then pass "$kills kill -9s while jobs trained ($ROUNDS round(s) of 4 jobs)"
else fail "only $kills kill -9s in 150 s (of $KILLS)"; fi
resumes=$(grep -cE "resumes after epoch [1-9]" "$DATA/server.log" || true)
if [ "$resumes" -gt 0 ]; then pass "$resumes resume(s) from a checkpoint logged"; else fail "no job ever resumed"; fi

# Every job ends (deadline 120 s).
deadline=$((SECONDS + 120))
while left=$(unfinished) && [ "$left" != 0 ] && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
if [ "${left:-1}" = 0 ]; then pass "all ${#JOBS[@]} jobs finished $((SECONDS - started)) s after the first kill"
else fail "${left:-?} job(s) still unfinished after 120 s"; fi

# Per job, through the API: succeeded, epochs 1..E exactly once, E = fit.epochs unless a callback stopped it.
for id in "${JOBS[@]}"; do
    if out=$(python3 - "$URL" "$id" <<'EOF'
import json, sys, urllib.request
url, id = sys.argv[1], sys.argv[2]
job = json.load(urllib.request.urlopen(f"{url}/v1/jobs/{id}"))
epochs = [e["epoch"] for e in json.load(urllib.request.urlopen(f"{url}/v1/jobs/{id}/epochs"))["epochs"]]
E = job["spec"]["fit"]["epochs"]
problems = []
if job["state"] != "succeeded":
    problems.append(f"state {job['state']} ({job.get('error')})")
if epochs != list(range(1, len(epochs) + 1)) or not epochs:
    problems.append(f"epochs {epochs}")
if not job.get("stop_reason") and len(epochs) != E:
    problems.append(f"{len(epochs)} epochs of {E} without a stop reason")
if not job.get("model_id"):
    problems.append("no model")
print(f"{job['name']}: {job['state']}, epochs 1..{len(epochs)} of {E}" if not problems else f"{job['name']}: " + "; ".join(problems))
sys.exit(1 if problems else 0)
EOF
    ); then pass "$out"; else fail "$id $out"; fi
done

# Stop for good (SIGTERM, graceful), then check the database and files with nothing running.
stop_gracefully "$SERVER_PID"
SERVER_PID=""
check_data_dir "$DATA" "$DATA/server.log"
finish
