#!/usr/bin/env python3
"""Compares the host timeline of a `teardown analyze -f json` report with the
`ss` samples that `scripts/mkcapture.sh --ss` records beside the capture.

usage: timeline-vs-ss.py REPORT.json CAPTURE.pcap.ss.tsv [STATE]

For every ss run inside the capture, per host and state, the tool's count is
taken over the run (the grid points from just before it started to its end:
ss reads each socket at some instant of its run) and counts as exact when
ss's count lies within it. Prints, per host and state, the share of exact
samples and the mean absolute error, then STATE's series (default
TIME-WAIT) on the server next to ss's, one line per second.
"""
import csv
import json
import sys

SS = {"SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECEIVED", "ESTAB": "ESTABLISHED",
      "FIN-WAIT-1": "FIN_WAIT_1", "FIN-WAIT-2": "FIN_WAIT_2", "CLOSE-WAIT": "CLOSE_WAIT",
      "CLOSING": "CLOSING", "LAST-ACK": "LAST_ACK", "TIME-WAIT": "TIME_WAIT"}

report = json.load(open(sys.argv[1]))
show = sys.argv[3] if len(sys.argv) > 3 else "TIME-WAIT"
t = report["timeline"]
start, step = t["start"], t["step"]
series = {h["host"]: h["states"] for h in t["hosts"]}
first, last = report["summary"]["first_ts"], report["summary"]["last_ts"]


def tool(host, state, a, b):
    s = series.get(host, {}).get(state)
    if not s:
        return 0, 0
    p0, p1 = int((a - start) // step), int((b - start) // step)
    vals = [s["counts"][p] for p in range(max(p0, 0), min(p1, len(s["counts"]) - 1) + 1)] or [0]
    return min(vals), max(vals)


rows = [r for r in csv.DictReader(open(sys.argv[2]), delimiter="\t")
        if first <= float(r["t_before"]) and float(r["t_after"]) <= last]
stats = {}
for r in rows:
    a, b = float(r["t_before"]), float(r["t_after"])
    for name, state in SS.items():
        lo, hi = tool(r["host"], state, a, b)
        n = int(r[name])
        err = 0 if lo <= n <= hi else min(abs(n - lo), abs(n - hi))
        e = stats.setdefault((r["host"], state), [0, 0, 0, 0])
        e[0] += 1
        e[1] += err == 0
        e[2] += err
        e[3] = max(e[3], n)
total = [sum(v[i] for v in stats.values()) for i in range(3)]
print(f"{len(rows)} ss runs inside the capture; step {step} s")
print(f"all (run, host, state): {100 * total[1] / total[0]:.1f} % exact, mean absolute error {total[2] / total[0]:.2f}")
for (host, state), (n, exact, err, peak) in sorted(stats.items()):
    if peak:
        print(f"  {host:<12} {state:<12} ss peak {peak:>6}  {100 * exact / n:5.1f} % exact  MAE {err / n:.2f}")
server = max(series, key=lambda h: series[h].get(SS[show], {}).get("peak", 0)) if series else None
if server:
    print(f"\n{show} on {server}: seconds after the first packet, ss, the tool")
    seen = set()
    for r in rows:
        if r["host"] != server:
            continue
        sec = int(float(r["t_before"]) - first)
        if sec in seen:
            continue
        seen.add(sec)
        lo, hi = tool(server, SS[show], float(r["t_before"]), float(r["t_after"]))
        print(f"  {sec:>4}  {r[show]:>6}  {lo if lo == hi else f'{lo}-{hi}':>9}")
