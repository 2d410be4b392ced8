#!/usr/bin/env python3
"""Drives the cluster test (see scripts/cluster-test.sh): real processes, real PostgreSQL, real HTTP.

Needs SEQUENT_TEST_POSTGRES_URL (scripts/with-postgres.sh sets it) and the sequent binary as argv[1]. Standard
library only, so CI needs no venv for it.
"""
import datetime
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.path.abspath(sys.argv[1])
URL = os.environ["SEQUENT_TEST_POSTGRES_URL"]
ROOT = tempfile.mkdtemp(prefix="sequent-cluster.")
# With --shared-artifacts: models, checkpoints and datasets in one directory every process shares (the NFS-style
# alternative), instead of in PostgreSQL.
SHARED = os.path.join(ROOT, "shared") if "--shared-artifacts" in sys.argv[2:] else None
print("artifacts in " + ("a shared directory" if SHARED else "PostgreSQL"), flush=True)
FAILURES = []
PROCS = []


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def start(role, name, *extra):
    """Starts `sequent <role>` with its own data directory (its artifact cache) and waits for its ready line."""
    data = os.path.join(ROOT, name)
    os.makedirs(data)
    env = dict(os.environ, SEQUENT_STORE=URL, SEQUENT_LEASE_SECONDS="3", SEQUENT_METRICS_EVERY="5")
    if SHARED:
        env["SEQUENT_ARTIFACTS_DIR"] = SHARED
    args = [BIN, role, "--data-dir", data, "--threads-per-job", "1"] + list(extra)
    log = open(os.path.join(data, "log"), "w")
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    PROCS.append(p)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        if line.startswith("sequent listening on port "):
            return p, int(line.split()[-1])
        if line.startswith("sequent worker ready"):
            return p, None
    raise SystemExit(f"{role} {name} did not start; see {data}/log")


def request(port, method, path, body=None, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    h = {"Content-Type": "application/json"} if isinstance(body, (dict, list)) else {}
    h.update(headers or {})
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read()
    c.close()
    try:
        return r.status, json.loads(raw) if raw else None
    except ValueError:
        return r.status, raw


def spec(name, epochs, train_limit=1024):
    return {"name": name, "dataset": {"name": "fashion_mnist", "validation": "test", "train_limit": train_limit,
                                      "test_limit": 256},
            "model": {"input_shape": [28, 28, 1], "layers": [
                {"type": "Conv2D", "filters": 8, "kernel_size": [3, 3], "activation": "relu"},
                {"type": "MaxPooling2D"}, {"type": "Flatten"},
                {"type": "Dense", "units": 32, "activation": "relu"},
                {"type": "Dense", "units": 10, "activation": "softmax"}]},
            "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
            "fit": {"epochs": epochs, "batch_size": 32}}


def wait_for(port, job_id, states, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, job = request(port, "GET", f"/v1/jobs/{job_id}")
        if status == 200 and job["state"] in states:
            return job
        time.sleep(0.1)
    return None


def main():
    a_proc, a = start("serve", "replica-a", "--port", "0", "--workers", "0")
    b_proc, b = start("serve", "replica-b", "--port", "0", "--workers", "0")
    w1, _ = start("worker", "worker-1", "--workers", "1")
    w2, _ = start("worker", "worker-2", "--workers", "1")
    workers = {w1.pid: w1, w2.pid: w2}

    # Six jobs on replica A; kill -9 whichever worker is training the second epoch of one of them.
    epochs = 3
    ids = []
    for i in range(6):
        status, job = request(a, "POST", "/v1/jobs", spec(f"cluster-{i}", epochs))
        check(status == 201, f"replica A accepts job {i} (status {status})")
        ids.append(job["id"])
    killed = None
    deadline = time.time() + 120
    while killed is None and time.time() < deadline:
        for job_id in ids:
            status, job = request(b, "GET", f"/v1/jobs/{job_id}")
            w = job.get("worker") if status == 200 else None
            if job and job["state"] == "running" and w and job.get("checkpoint_epoch", 0) >= 1 and w["pid"] in workers:
                check(w["host"] != "" and w["id"] != "", f"a running job names its worker ({w})")
                os.kill(w["pid"], signal.SIGKILL)
                workers[w["pid"]].wait()
                killed = (job_id, w["pid"], job["checkpoint_epoch"], time.time())
                break
        time.sleep(0.05)
    check(killed is not None, "a worker was killed with -9 while it trained a job past its first epoch")
    results = [wait_for(b, job_id, {"succeeded", "failed", "cancelled"}) for job_id in ids]
    check(all(r and r["state"] == "succeeded" for r in results),
          "every job succeeds after the kill: " + ", ".join(f"{r['id']}={r['state']}" if r else "timeout" for r in results))
    for job_id in ids:
        status, e = request(a, "GET", f"/v1/jobs/{job_id}/epochs")
        got = [row["epoch"] for row in (e or {}).get("epochs", [])]
        check(got == list(range(1, epochs + 1)), f"job {job_id} has epochs 1..{epochs} exactly once (got {got})")
    models = {r["model_id"] for r in results if r}
    check(len(models) == len(ids), "each job registered one model")
    if killed:
        job = next(r for r in results if r and r["id"] == killed[0])
        check(job.get("worker") is None, "a finished job names no worker")
        # Resumed, not restarted: the epochs checkpointed before the kill keep the rows written before it.
        _, e = request(a, "GET", f"/v1/jobs/{killed[0]}/epochs")
        before = [row for row in e["epochs"] if row["epoch"] <= killed[2]]
        finished = [datetime.datetime.fromisoformat(row["finished_at"].replace("Z", "+00:00")).timestamp() for row in before]
        check(len(before) == killed[2] and all(t < killed[3] for t in finished),
              f"the killed worker's job resumed after epoch {killed[2]} on the other worker (epochs up to it kept)")

    # Cancel through replica A; replica B streams the job's progress meanwhile.
    status, job = request(a, "POST", "/v1/jobs", spec("cluster-cancel", 50, train_limit=6000))
    cancel_id = job["id"]
    seen = []

    def stream():
        c = http.client.HTTPConnection("127.0.0.1", b, timeout=60)
        c.request("GET", f"/v1/jobs/{cancel_id}/events")
        r = c.getresponse()
        while True:
            line = r.fp.readline()
            if not line:
                break
            seen.append(line.decode().strip())
            if any(s == "event: progress" for s in seen) and any('"cancelled"' in s for s in seen):
                break
    t = threading.Thread(target=stream, daemon=True)
    t.start()
    running = wait_for(a, cancel_id, {"running"}, timeout=60)
    deadline = time.time() + 30
    while time.time() < deadline and "event: progress" not in seen:
        time.sleep(0.05)
    check("event: progress" in seen, "replica B streams progress events of a job a worker runs")
    sent = time.time()
    status, _ = request(a, "POST", f"/v1/jobs/{cancel_id}/cancel")
    check(status == 202, f"replica A accepts the cancel (status {status})")
    done = wait_for(b, cancel_id, {"cancelled", "succeeded", "failed"}, timeout=30)
    check(running is not None and done is not None and done["state"] == "cancelled",
          f"the worker stopped the job (state {done and done['state']})")
    check(done is not None and time.time() - sent < 10, f"the cancel took {time.time() - sent:.1f} s")
    t.join(timeout=10)
    check(any('"cancelled"' in s for s in seen), "replica B's stream saw the job end")

    # The same model answers the same on both replicas (each loads it from the shared store into its cache).
    model_id = sorted(models)[0]
    pixels = bytes((x * 37) % 256 for x in range(784))
    numbers = [p / 255 for p in pixels]
    answers = []
    for port in (a, b):
        status, r = request(port, "POST", f"/v1/models/{model_id}:predict", {"instances": [numbers]})
        answers.append((status, r))
    check(all(s == 200 for s, _ in answers), f"both replicas predict (statuses {[s for s, _ in answers]})")
    check(answers[0][1] == answers[1][1], "both replicas give the same prediction for the same model")

    # PostgreSQL restarts under the running processes: they reconnect, and what was acknowledged is still there.
    restart_postgres()
    status, listed = request(b, "GET", "/v1/jobs?limit=100")
    known = {j["id"] for j in (listed or {}).get("jobs", [])}
    check(status == 200 and set(ids) <= known, f"after a PostgreSQL restart replica B still lists every job (status {status})")
    status, job = request(a, "POST", "/v1/jobs", spec("after-restart", 1, train_limit=512))
    check(status == 201, f"after a PostgreSQL restart replica A accepts a job (status {status})")
    done = wait_for(b, job["id"], {"succeeded", "failed", "cancelled"}, timeout=120) if status == 201 else None
    check(done is not None and done["state"] == "succeeded", "and a worker trains it to the end")

    print(f"{len(FAILURES)} failed", flush=True)


def restart_postgres():
    """pg_ctl restart of the throwaway cluster, as the user it runs as (scripts/with-postgres.sh exports these)."""
    pg_ctl = os.path.join(os.environ["SEQUENT_TEST_POSTGRES_BIN"], "pg_ctl")
    cmd = [pg_ctl, "-D", os.environ["SEQUENT_TEST_POSTGRES_DATA"], "-m", "fast", "-w", "-t", "60", "restart"]
    user = os.environ.get("SEQUENT_TEST_POSTGRES_RUNAS", "")
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    check(r.returncode == 0, f"PostgreSQL restarted ({r.stderr.strip()[:200]})")


try:
    main()
finally:
    for p in PROCS:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in PROCS:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    if FAILURES:
        for name in os.listdir(ROOT):
            log = os.path.join(ROOT, name, "log")
            if os.path.exists(log):
                print(f"--- {name} log (tail)")
                print("".join(open(log).readlines()[-30:]))
    shutil.rmtree(ROOT, ignore_errors=True)
sys.exit(1 if FAILURES else 0)
