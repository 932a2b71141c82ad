#!/usr/bin/env python3
"""The README's table of predicted against measured online time per model, batch,
network and plan, from `tessera bench --filter model/` results: every model scenario
carries the planner's prediction (the calibration of the run: embedded, or the one given
with `--calibration`), and plans predicted over the budget are listed as priced.

Usage: compare_models.py RESULTS.json [RESULTS.json ...]
"""
import json, sys

rows, priced = {}, {}
for path in sys.argv[1:]:
    r = json.load(open(path))
    for s in r["scenarios"]:
        if s["family"] == "model" and s.get("predicted"):
            model, plan = s["name"].split("/")
            rows[(model, int(s["params"]["batch"]), s["network"], plan)] = s
    for s in r.get("predicted_only", []):
        if s["family"] == "model":
            model, plan = s["name"].split("/")
            priced[(model, int(s["params"]["batch"]), s["network"], plan)] = s

def fmt(ms):
    return f"{ms/1e3:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"

print("| model | batch | network | plan | sharings | predicted online | measured online (median) | error | online bytes (p0+p1) | rounds |")
print("|---|---|---|---|---|---:|---:|---:|---:|---:|")
worst = 0.0
for key in sorted(set(rows) | set(priced)):
    model, batch, net, plan = key
    if key in rows:
        s = rows[key]
        p = s["predicted"]
        pred = p["online_ns"] / 1e6
        meas = s["online_ns"]["median"] / 1e6
        c = s["counters"]
        b = c["party0"]["online"]["bytes_sent"] + c["party1"]["online"]["bytes_sent"]
        r = max(c["party0"]["online"]["rounds"], c["party1"]["online"]["rounds"])
        err = (meas - pred) / meas
        worst = max(worst, abs(err))
        same = "" if (b == p["bytes"] and r == p["rounds"]) else " (counters differ from the prediction!)"
        print(f"| {model} | {batch} | {net} | {plan} | `{p['sharings'].replace('|', '&#124;')}` | {fmt(pred)} | {fmt(meas)} | {100*err:+.0f} % | {b/1e6:.3f} MB{same} | {r} |")
    else:
        p = priced[key]["predicted"]
        print(f"| {model} | {batch} | {net} | {plan} | `{p['sharings'].replace('|', '&#124;')}` | {fmt(p['online_ns']/1e6)} | priced, not run (over the budget) | | {p['bytes']/1e6:.3f} MB | {p['rounds']} |")
print(f"\nLargest |error|: {100*worst:.0f} %")
