"""Inference measures shared by the peer scripts, the same as `sequent bench` takes: single-image latency p50/p99
over per-call times, and batch-N samples/s (median of passes). Results use `sequent bench`'s JSON keys."""
import json
import math
import time

import recipes


def quantile(values, q):
    """Nearest-rank quantile, as `sequent bench` computes it."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def latencies(call, one_images, calls=0, seconds=1.0):
    """Milliseconds of each single-image call after 20 warm-up calls; `calls == 0` times enough calls for about
    3 × `seconds` (100 to 2,000), as `sequent bench` does."""
    t = time.perf_counter()
    for i in range(20):
        call(one_images[i % len(one_images)])
    warm_ms = (time.perf_counter() - t) * 1e3 / 20
    n = calls or min(2000, max(100, int(seconds * 3000 / max(warm_ms, 1e-3))))
    ms = []
    for i in range(n):
        x = one_images[i % len(one_images)]
        t = time.perf_counter()
        call(x)
        ms.append((time.perf_counter() - t) * 1e3)
    return ms


def throughput(call, batch, seconds=1.0):
    """Samples/s of passes of `call(batch)`: one untimed, then until `seconds` passed and at least three timed."""
    call(batch)
    rates, start = [], time.perf_counter()
    while len(rates) < 3 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        call(batch)
        rates.append(len(batch) / (time.perf_counter() - t))
    return rates


def run(framework, recipe, call, x, prepare=lambda a: a, calls=0, seconds=1.0, extra=None):
    """Measures `call` (a function of one prepared batch) on `recipe`'s samples `x` (NHWC numpy); `prepare`
    turns a numpy batch into the framework's input. Prints and returns one JSON line."""
    ones = [prepare(x[i:i + 1]) for i in range(min(len(x), 64))]
    ms = latencies(call, ones, calls, seconds)
    res = {"framework": framework, "recipe": recipe, "kind": "inference",
           "predict_one_p50_ms": round(quantile(ms, 0.5), 4), "predict_one_p99_ms": round(quantile(ms, 0.99), 4),
           "predict_one_mean_ms": round(sum(ms) / len(ms), 4), "predict_one_calls": len(ms)}
    for n in recipes.RECIPES[recipe]["batches"]:
        rates = throughput(call, prepare(x[:n]), seconds)
        res[f"infer_b{n}_sps"] = round(quantile(rates, 0.5), 1)
    res.update(extra or {})
    res["peak_rss_mb"] = round(recipes.common.peak_rss_mb())
    res["loadavg_end"] = recipes.common.loadavg()
    print(json.dumps(res), flush=True)
    return res
