#!/usr/bin/env python3
"""Hostile-client check against a running `sequent serve`: holds IDLE connections that send nothing and SLOW
slowloris connections that trickle one header line every few seconds, and meanwhile times `GET /healthz` from
fresh connections. Every probe must be answered, with p99 under the bound. Also reports the server's RSS and
threads before and during the flood (from /proc), so the cost of a connection can be read off.

usage: connection-flood.py PORT SERVER_PID [--idle 1000] [--slow 300] [--seconds 20] [--p99-ms 100]
Prints 'N passed, N failed' and exits non-zero on any failure."""
import argparse
import resource
import socket
import time


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


def probe(port):
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    elapsed = (time.perf_counter() - start) * 1000
    return data.startswith(b"HTTP/1.1 200") and b'"ok"' in data, elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("pid", type=int)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slow", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--p99-ms", type=float, default=100)
    args = ap.parse_args()
    need = args.idle + args.slow + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(need, soft), hard), hard))

    rss0, threads0 = proc_status(args.pid)
    idle, slow = [], []
    for _ in range(args.idle):
        idle.append(socket.create_connection(("127.0.0.1", args.port), timeout=5))
    for _ in range(args.slow):
        s = socket.create_connection(("127.0.0.1", args.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        slow.append(s)
    time.sleep(0.5)  # let the server accept the backlog before reading its figures
    rss1, threads1 = proc_status(args.pid)

    latencies, failures = [], 0
    deadline = time.monotonic() + args.seconds
    next_trickle = time.monotonic() + 5
    while time.monotonic() < deadline:
        if time.monotonic() >= next_trickle:
            for s in slow:
                try:
                    s.sendall(b"X-Trickle: 1\r\n")
                except OSError:
                    pass  # the server may have ended it with 408: that is its defence working
            next_trickle += 5
        try:
            ok, ms = probe(args.port)
        except OSError as e:
            ok, ms = False, 5000.0
            print(f"probe failed: {e}")
        failures += 0 if ok else 1
        latencies.append(ms)
        time.sleep(0.05)
    rss2, threads2 = proc_status(args.pid)
    open_idle = 0
    for s in idle:
        s.setblocking(False)
        try:
            open_idle += 1 if s.recv(1) else 0
        except BlockingIOError:
            open_idle += 1
        except OSError:
            pass
        s.close()
    for s in slow:
        s.close()

    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    per_conn = (rss1 - rss0) * 1024 / max(1, args.idle + args.slow)
    print(f"probes {len(latencies)}, unanswered {failures}, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"max {latencies[-1]:.1f} ms")
    print(f"server RSS {rss0} kB -> {rss1} kB with {args.idle} idle + {args.slow} slow connections "
          f"({per_conn:.0f} bytes each), {rss2} kB at the end; threads {threads0} -> {threads1} -> {threads2}; "
          f"idle connections still open at the end: {open_idle}")
    checks = [failures == 0, p99 < args.p99_ms]
    passed = sum(checks)
    print(f"{passed} passed, {len(checks) - passed} failed")
    raise SystemExit(0 if passed == len(checks) else 1)


if __name__ == "__main__":
    main()
