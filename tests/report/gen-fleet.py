#!/usr/bin/env python3
"""Writes a synthetic coinfer-fleet run JSON (docs/fleet-json.md, version 1) for
coinfer-report's tests: seeded, 3 applications, 2 device classes, a 60 s measured
window, about 5000 records whose decisions follow each device's bandwidth. It is
test input, not a measurement: the aggregates are computed from the records the
way coinfer-fleet does (nearest-rank percentiles), so the tests can check that
the report prints the JSON's numbers.

usage: gen-fleet.py OUT.json [--seed N] [--rate-scale X] [--app-name NAME]
  --rate-scale scales every arrival rate (a second load level for the
  throughput-against-p99 plot); --app-name renames the first application (the
  tests give it markup that must come out escaped)."""
import argparse
import json
import math
import random

APPS = [  # name, deadline ms, objective, min accuracy, base latency scale
    ("camera", 100.0, 0.99, 0.70),
    ("doorbell", 200.0, 0.95, 0.70),
    ("drone", 50.0, 0.995, 0.60),
]
CLASSES = [("pi4-est", 1.0), ("pi3-est", 1.8)]  # name, head-time dilation
GROUPS = [  # name, count, class index, app index, transport, rate Hz per device
    ("cameras", 12, 0, 0, "udp", 4.0),
    ("doorbells", 8, 1, 1, "tcp", 2.0),
    ("drones", 12, 0, 2, "udp", 2.5),
]
WARMUP_S, DURATION_S = 5, 60
# (exit, partition, bits, head ms at dilation 1, frame kbit, accuracy)
ACTIONS = [
    (3, 0, 8, 0.5, 190.0, 0.88),
    (3, 6, 8, 4.0, 95.0, 0.88),
    (3, 18, 4, 9.0, 40.0, 0.86),
    (2, 12, 4, 7.0, 22.0, 0.80),
    (1, 8, 4, 5.0, 8.0, 0.70),
]


def trace(rng, n):
    """A bandwidth trace (Mbit/s per second): a slow swing and a random walk."""
    phase, period = rng.uniform(0, 2 * math.pi), rng.uniform(20, 50)
    walk, out = 0.0, []
    for t in range(n):
        walk = max(-6.0, min(6.0, walk + rng.gauss(0, 1.0)))
        bw = max(0.8, 9.0 + 7.0 * math.sin(phase + 2 * math.pi * t / period) + walk)
        if 30 <= t < 36:  # a shared fade: every device's link drops for six seconds
            bw = max(0.4, bw * 0.12)
        out.append(bw)
    return out


def decide(bw, deadline):
    """The action a bandwidth-aware policy would take: the largest frame whose
    uplink fits a third of the deadline."""
    for a in ACTIONS:
        if a[4] / bw <= deadline / 3:
            return a
    return ACTIONS[-1]


def nearest_rank(sorted_vals, q):
    if not sorted_vals:
        return 0.0
    k = max(1, math.ceil(q * len(sorted_vals)))
    return sorted_vals[min(k, len(sorted_vals)) - 1]


def lat_summary(vals):
    s = sorted(vals)
    if not s:
        return {"mean": 0, "p50": 0, "p90": 0, "p99": 0, "p999": 0, "max": 0}
    return {"mean": round(sum(s) / len(s), 3), "p50": nearest_rank(s, 0.5),
            "p90": nearest_rank(s, 0.9), "p99": nearest_rank(s, 0.99),
            "p999": nearest_rank(s, 0.999), "max": s[-1]}


def make_records(rng, rate_scale):
    rows, splits, devices = [], {}, 0
    for g, (gname, count, ci, ai, transport, rate) in enumerate(GROUPS):
        app, deadline = APPS[ai][0], APPS[ai][1]
        dil = CLASSES[ci][1]
        for d in range(count):
            dev = devices
            devices += 1
            bw_trace = trace(rng, WARMUP_S + DURATION_S + 1)
            t = rng.uniform(0, 1.0)
            while t < WARMUP_S + DURATION_S:
                gap = rng.expovariate(rate * rate_scale)
                t += gap
                if t < WARMUP_S or t >= WARMUP_S + DURATION_S:
                    continue
                bw = bw_trace[int(t)]
                ex, part, bits, head, kbit, acc = decide(bw, deadline)
                head *= dil
                uplink = kbit / bw * rng.lognormvariate(0.1, 0.35)
                queue = rng.expovariate(1 / (1.5 * rate_scale))
                if rng.random() < 0.004 * rate_scale:  # a stalled batch now and then
                    queue += rng.uniform(30, 150)
                compute = 2.0 + 0.3 * ex + rng.uniform(0, 1)
                downlink = rng.uniform(0.3, 1.2)
                edge = rng.random() > 0.01
                if not edge:  # fell back: ran the whole network on the device
                    uplink, queue, compute, downlink = 0.0, 0.0, 25.0 * dil, 0.0
                lat = round(head + uplink + queue + compute + downlink, 2)
                correct = 1 if rng.random() < acc else 0
                rows.append([round(t, 3), dev, app, CLASSES[ci][0], lat,
                             1 if lat <= deadline else 0, "edge" if edge else "device",
                             ex, part, bits, round(bw, 2), correct])
                sp = splits.setdefault(app, [0.0] * 5)
                for i, v in enumerate((head, uplink, queue, compute, downlink)):
                    sp[i] += v
    rows.sort(key=lambda r: r[0])
    return rows, splits, devices


def build(seed, rate_scale, first_name):
    rng = random.Random(seed)
    rows, splits, devices = make_records(rng, rate_scale)
    names = {a[0]: a[0] for a in APPS}
    if first_name:
        names[APPS[0][0]] = first_name
    lat_all = [r[4] for r in rows]
    n = len(rows)
    correct = sum(r[11] for r in rows)
    apps, missed = [], []
    for name, deadline, objective, min_acc in APPS:
        rs = [r for r in rows if r[2] == name]
        within = sum(r[5] for r in rs)
        att = within / len(rs)
        acc = sum(r[11] for r in rs) / len(rs)
        sp = splits[name]
        apps.append({"name": names[name], "deadline_ms": deadline, "objective": objective,
                     "window_s": 3600, "min_accuracy": min_acc, "requests": len(rs),
                     "within_deadline": within, "attainment": att,
                     "objective_met": att >= objective, "accuracy": acc,
                     "accuracy_met": acc >= min_acc,
                     "latency_ms": lat_summary([r[4] for r in rs]),
                     "split_ms": {k: round(sp[i] / len(rs), 3) for i, k in enumerate(
                         ("head", "uplink", "queue", "compute", "downlink"))}})
        if att < objective or acc < min_acc:
            missed.append(names[name])
    classes = [{"name": c, "requests": sum(1 for r in rows if r[3] == c),
                "latency_ms": lat_summary([r[4] for r in rows if r[3] == c])}
               for c, _ in CLASSES]
    groups = []
    for gname, count, ci, ai, transport, rate in GROUPS:
        a = apps[ai]
        groups.append({"name": gname, "count": count, "class": CLASSES[ci][0],
                       "application": a["name"], "transport": transport,
                       "arrival": "poisson %g Hz" % (rate * rate_scale),
                       "requests": a["requests"], "attainment": a["attainment"]})
    dec = {}
    for r in rows:
        dec[(r[7], r[8], r[9])] = dec.get((r[7], r[8], r[9]), 0) + 1
    decisions = [{"exit": k[0], "partition": k[1], "bits": k[2], "count": v}
                 for k, v in sorted(dec.items(), key=lambda kv: -kv[1])]
    timeline = []
    for t in range(WARMUP_S, WARMUP_S + DURATION_S):
        for name, deadline, _, _ in APPS:
            rs = [r for r in rows if int(r[0]) == t and r[2] == name]
            if not rs:
                continue
            timeline.append({"t_s": t, "application": names[name], "requests": len(rs),
                             "attainment": sum(r[5] for r in rs) / len(rs),
                             "p99_ms": nearest_rank(sorted(r[4] for r in rs), 0.99),
                             "bandwidth_mbps": round(sum(r[10] for r in rs) / len(rs), 2)})
    device_n = sum(1 for r in rows if r[6] == "device")
    for r in rows:
        r[2] = names[r[2]]
    return {
        "kind": "coinfer-fleet", "version": 1,
        "meta": {
            "command": "coinfer-fleet --fleet conf/fleet/example.yaml --edge 127.0.0.1:7878"
                       " --duration 60 --seed %d" % seed,
            "commit": "b06d2be",
            "machine": {"hostname": "edge-lab-1", "cpu": "Intel(R) Xeon(R) CPU @ 2.20GHz",
                        "cores": 2, "kernel": "Linux 6.1.0-18-amd64", "isa": "avx2"},
            "started": "2026-12-07T18:00:00Z",
            "fleet_file": "conf/fleet/example.yaml", "fleet_xxh64": "9f2c4b1a77e0d3c5",
            "slo_file": "conf/slo/apps.yaml", "slo_xxh64": "03d1e5a9b4c2f760",
            "seed": seed, "edge": "127.0.0.1:7878", "shaping": "process",
            "duration_s": DURATION_S, "warmup_s": WARMUP_S, "devices": devices},
        "totals": {"requests": n, "answered": n, "edge": n - device_n, "device": device_n,
                   "throughput_rps": round(n / DURATION_S, 3), "correct": correct,
                   "accuracy": correct / n, "latency_ms": lat_summary(lat_all),
                   "schedule": {"late_starts": 0, "max_lag_ms": 0.4}},
        "applications": apps, "classes": classes, "groups": groups, "decisions": decisions,
        "errors": {"busy": 3, "deadline": 1}, "fallbacks": {"timeout": device_n, "edge_down": 0},
        "timeline": timeline,
        "records": {"columns": ["t_s", "device", "application", "class", "latency_ms",
                                "deadline_met", "where", "exit", "partition", "bits",
                                "bandwidth_mbps", "correct"],
                    "rows": rows, "truncated": False},
        "verdict": {"passed": not missed, "missed": missed},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate-scale", type=float, default=1.0)
    ap.add_argument("--app-name", default=None)
    a = ap.parse_args()
    with open(a.out, "w") as f:
        json.dump(build(a.seed, a.rate_scale, a.app_name), f)


if __name__ == "__main__":
    main()
