#!/usr/bin/env python3
"""Summarises bench-peers.sh output (JSON lines on stdin): one row per run, in order."""
import json
import sys

for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    d = json.loads(line)
    if "recipe" in d:
        print(f"sequent  {d['recipe']:24} {d['samples_per_second']:10.0f}/s  rss {d['peak_rss_mb']:6.0f} MB"
              f"  wait {d.get('input_wait_seconds', 0):.3f} s")
    else:
        name = d["framework"] + (" CL" if d.get("channels_last") else "")
        print(f"{name:8} {d['model']:24} {d['train_sps']['median']:10.0f}/s  rss {d['peak_rss_mb']:6.0f} MB"
              f"  acc {d.get('test_acc')}  foreign cores {d.get('epoch_foreign_cores')}")
