#!/usr/bin/env python3
"""Summarises a bench-peers.sh sitting (JSON lines on stdin or in the files named) as one table: per recipe and
measure, Sequent's median over its runs and each peer's figure with the ratio Sequent ÷ peer.

A ratio above 1 means Sequent is faster on a samples/s row and slower on a milliseconds row. GFLOP/s (in
brackets) counts the same FLOPs for every framework: Sequent's count for the recipe (training: forward + both
gradients; inference: forward). `--runs` also lists every run, in order.

  scripts/peers-table.py < bench-results/peers.jsonl
"""
import argparse
import json
import statistics
import sys

# The shared training scripts' --model names → Sequent's recipe (job spec) names.
TRAIN_RECIPE = {"dense": "fashion-dense", "cnn2": "fashion-cnn", "hh-150": "horses-or-humans-150",
                "hh-300": "horses-or-humans"}
PEERS = ["keras", "torch", "torch CL", "onnxruntime"]
BATCHES = [1, 32, 256]


def peer_name(d):
    return d["framework"] + (" CL" if d.get("channels_last") else "")


def load(lines):
    """Sequent's runs and the peers' figures as {recipe: {who: {measure: [values]}}}, recipes in order seen."""
    table, order, runs = {}, [], []

    def put(recipe, who, key, value):
        if value is None:
            return
        if recipe not in table:
            table[recipe] = {}
            order.append(recipe)
        table[recipe].setdefault(who, {}).setdefault(key, []).append(float(value))

    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        runs.append(d)
        if "framework" not in d:  # sequent bench --json
            r = d["recipe"]
            put(r, "sequent", "train", d.get("samples_per_second"))
            put(r, "sequent", "train_mflop", d.get("mflop_per_sample"))
            put(r, "sequent", "infer_mflop", d.get("inference_mflop_per_sample"))
            put(r, "sequent", "threads", d.get("threads"))
            for k in ("predict_one_p50_ms", "predict_one_p99_ms"):
                put(r, "sequent", k, d.get(k))
            for n in BATCHES:
                put(r, "sequent", f"b{n}", d.get(f"infer_b{n}_sps"))
                put(r, "sequent", f"engine b{n}", d.get(f"infer_engine_b{n}_sps"))
        elif d.get("kind") == "inference":  # scripts/peers/*.py
            r, who = d["recipe"], peer_name(d)
            for k in ("predict_one_p50_ms", "predict_one_p99_ms"):
                put(r, who, k, d.get(k))
            for n in BATCHES:
                put(r, who, f"b{n}", d.get(f"infer_b{n}_sps"))
        else:  # ../shared/bench training scripts
            r = TRAIN_RECIPE.get(d["model"], d["model"])
            put(r, peer_name(d), "train", d["train_sps"]["median"])
    return table, order, runs


def fmt(v, ms):
    if v is None:
        return "–"
    if ms:
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    return f"{v:,.0f}" if v >= 10 else f"{v:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--runs", action="store_true", help="list every run before the table")
    a = ap.parse_args()
    lines = [l for f in a.files for l in open(f)] if a.files else sys.stdin.readlines()
    table, order, runs = load(lines)
    if a.runs:
        for d in runs:
            who = peer_name(d) if "framework" in d else "sequent"
            name = d.get("recipe") or d.get("model")
            sps = d.get("samples_per_second") or (d.get("train_sps") or {}).get("median")
            print(f"{who:12} {name:22} train {sps or '–'}  p50 {d.get('predict_one_p50_ms', '–')} ms"
                  f"  b256 {d.get('infer_b256_sps', '–')}/s  rss {d.get('peak_rss_mb', '–')} MB")
        print()
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    peers = [p for p in PEERS if any(p in table[r] for r in order)]
    peers += sorted({w for r in order for w in table[r]} - set(peers) - {"sequent"})
    print("| recipe | measure | Sequent (median of runs) | " + " | ".join(f"{p} (Sequent ÷ {p})" for p in peers) + " |")
    print("|---|---|---|" + "---|" * len(peers))
    for r in order:
        seq = table[r].get("sequent", {})
        threads = med(seq.get("threads", []))
        measures = [("train", "training samples/s", "train_mflop"),
                    ("predict_one_p50_ms", "1 image p50 ms", None), ("predict_one_p99_ms", "1 image p99 ms", None)]
        measures += [(f"b{n}", f"batch {n} samples/s (serving path)", "infer_mflop") for n in BATCHES]
        measures += [(f"engine b{n}", f"batch {n} samples/s (Sequential.predict, {threads:.0f} thr)"
                      if threads else f"batch {n} samples/s (Sequential.predict)", "infer_mflop") for n in BATCHES]
        for key, label, flops in measures:
            peer_key = key.replace("engine ", "")
            s = med(seq.get(key, []))
            cells = [med(table[r].get(p, {}).get(peer_key, [])) for p in peers]
            if s is None and all(c is None for c in cells):
                continue
            ms = key.endswith("_ms")
            mflop = med(seq.get(flops, [])) if flops else None
            gf = lambda v: f" [{v * mflop / 1e3:.1f} GF/s]" if (v is not None and mflop) else ""  # noqa: E731
            n_runs = len(seq.get(key, []))
            head = fmt(s, ms) + gf(s) + (f" (n={n_runs})" if n_runs > 1 else "")
            row = [f"{fmt(c, ms)}{gf(c)} (×{s / c:.2f})" if (c and s) else fmt(c, ms) + gf(c) for c in cells]
            print(f"| {r} | {label} | {head} | " + " | ".join(row) + " |")
    print("\n(×: Sequent ÷ peer; above 1 Sequent is faster on a samples/s row, slower on an ms row. GF/s counts"
          " Sequent's FLOPs for the recipe.)")


if __name__ == "__main__":
    main()
