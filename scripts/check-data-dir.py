#!/usr/bin/env python3
"""Checks a `sequent serve` data directory against its database, for the crash soak and the disk-full test.

    scripts/check-data-dir.py DATA_DIR

Prints one `PASS …` or `FAIL …` line per check and exits non-zero if any failed. What it checks (DESIGN.md §6):
the SQLite file passes `PRAGMA integrity_check` and `foreign_key_check`; every recorded model has its files with
the recorded SHA-256; no model or checkpoint folder is left that no record points at; every job's epoch rows are
1..checkpoint_epoch with no gaps, and the checkpoint a resumable job points at exists; no step metric is recorded
twice; no temporary file is left behind. Read-only: the database is opened with `mode=ro`.
"""
import hashlib
import json
import os
import sqlite3
import sys

failures = 0


def check(ok, what, detail=""):
    global failures
    if ok:
        print(f"PASS {what}")
    else:
        failures += 1
        print(f"FAIL {what}" + (f": {detail}" if detail else ""))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    data = os.path.abspath(sys.argv[1])
    db = sqlite3.connect(f"file:{data}/sequent.sqlite?mode=ro", uri=True, timeout=10)
    db.row_factory = sqlite3.Row

    result = [r[0] for r in db.execute("PRAGMA integrity_check")]
    check(result == ["ok"], "PRAGMA integrity_check is ok", "; ".join(result[:5]))
    fk = db.execute("PRAGMA foreign_key_check").fetchall()
    check(not fk, "PRAGMA foreign_key_check finds nothing", str([tuple(r) for r in fk[:5]]))

    jobs = {r["id"]: r for r in db.execute("SELECT * FROM jobs")}
    models = db.execute("SELECT * FROM models").fetchall()

    # Models: the record and the files agree, and every folder under models/ is a recorded model.
    bad = []
    for m in models:
        weights = os.path.join(m["path"], "model.weights.safetensors")
        config = os.path.join(m["path"], "config.json")
        if not os.path.realpath(m["path"]).startswith(os.path.realpath(os.path.join(data, "models")) + os.sep):
            bad.append(f"{m['id']}: path outside models/")
        elif not os.path.isfile(weights) or not os.path.isfile(config):
            bad.append(f"{m['id']}: files missing")
        elif sha256(weights) != m["sha256"]:
            bad.append(f"{m['id']}: weights SHA-256 differs from the record")
        else:
            try:
                json.load(open(config))
            except ValueError:
                bad.append(f"{m['id']}: config.json is not JSON")
        # A model outlives its job (DELETE /v1/jobs/{id}); a job that is still there names its model.
        job = jobs.get(m["job_id"])
        if job is not None and job["model_id"] != m["id"]:
            bad.append(f"{m['id']}: its job does not name it")
    check(not bad, f"{len(models)} model record(s) match their files", "; ".join(bad))
    model_dirs = set(os.listdir(os.path.join(data, "models"))) if os.path.isdir(os.path.join(data, "models")) else set()
    orphans = model_dirs - {os.path.basename(m["path"]) for m in models}
    check(not orphans, "no model folder without a record", ", ".join(sorted(orphans)))
    missing_models = [j["id"] for j in jobs.values() if j["model_id"] and j["model_id"] not in {m["id"] for m in models}]
    check(not missing_models, "every job's model_id is a recorded model", ", ".join(missing_models))

    # Epochs: exactly 1..checkpoint_epoch per job (the epoch row and checkpoint_epoch commit together).
    bad = []
    for job in jobs.values():
        epochs = [r[0] for r in db.execute("SELECT epoch FROM epochs WHERE job_id = ? ORDER BY epoch", (job["id"],))]
        if epochs != list(range(1, job["checkpoint_epoch"] + 1)):
            bad.append(f"{job['id']}: epochs {epochs}, checkpoint_epoch {job['checkpoint_epoch']}")
    check(not bad, "every job's epoch rows are 1..checkpoint_epoch", "; ".join(bad))
    dup = db.execute("SELECT job_id, key, step, COUNT(*) FROM step_metrics GROUP BY job_id, key, step "
                     "HAVING COUNT(*) > 1 LIMIT 5").fetchall()
    check(not dup, "no step metric recorded twice", str([tuple(r) for r in dup]))

    # Checkpoints: a finished job keeps none; an unfinished one has the checkpoint its record points at.
    checkpoints = os.path.join(data, "checkpoints")
    bad = []
    for name in sorted(os.listdir(checkpoints)) if os.path.isdir(checkpoints) else []:
        job = jobs.get(name)
        if job is None:
            bad.append(f"{name}: no such job")
        elif job["state"] in ("succeeded", "failed", "cancelled"):
            bad.append(f"{name}: left behind by a {job['state']} job")
    for job in jobs.values():
        if job["state"] not in ("succeeded", "failed", "cancelled") and job["checkpoint_epoch"] > 0:
            d = os.path.join(checkpoints, job["id"], f"epoch-{job['checkpoint_epoch']}")
            if not all(os.path.isfile(os.path.join(d, f)) for f in ("config.json", "model.weights.safetensors")):
                bad.append(f"{job['id']}: checkpoint of epoch {job['checkpoint_epoch']} missing")
    check(not bad, "checkpoint folders match the jobs", "; ".join(bad))

    temps = []
    for root, dirs, files in os.walk(data):
        for f in files + dirs:
            if f.endswith(".tmp") or ".tmp." in f or f.startswith(".tmp"):
                temps.append(os.path.relpath(os.path.join(root, f), data))
    check(not temps, "no temporary files left", ", ".join(temps[:10]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
