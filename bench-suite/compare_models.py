#!/usr/bin/env python3
"""Joins `tessera bench --filter model` results with `tessera plan --json` predictions
into the Markdown table of the README (predicted vs measured online time per model,
batch, network and plan).

Usage: compare_models.py RESULTS.json [RESULTS.json ...] PLAN_DIR
where PLAN_DIR holds plan-<model>-<batch>-<network>.json from
`tessera plan --model M --batch B --network N --json`.
"""
import json, sys, os

*results, plan_dir = sys.argv[1:]
rows = {}
for path in results:
    for s in json.load(open(path))["scenarios"]:
        if s["family"] != "model":
            continue
        model, plan = s["name"].split("/")
        rows[(model, int(s["params"]["batch"]), s["network"], plan)] = s

def fmt(ms):
    return f"{ms/1e3:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"

print("| model | batch | network | plan | sharings | predicted online | measured online | error | online bytes (p0+p1) | rounds |")
print("|---|---|---|---|---|---|---|---|---|---|")
worst = 0.0
for (model, batch, net, plan), s in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3])):
    p = json.load(open(os.path.join(plan_dir, f"plan-{model}-{batch}-{net}.json")))
    name = plan
    if plan.startswith("auto-"):
        if plan != f"auto-{net}":
            continue  # the auto plan made for the other network
        name = "auto"
    pred = next((x["predicted"] for x in p["strategies"] if x["strategy"] == name and "predicted" in x), None)
    if pred is None:
        continue
    meas = s["online_ns"]["median"] / 1e6
    c = s["counters"]
    b = c["party0"]["online"]["bytes_sent"] + c["party1"]["online"]["bytes_sent"]
    r = max(c["party0"]["online"]["rounds"], c["party1"]["online"]["rounds"])
    err = (meas - pred["online_ms"]) / meas
    worst = max(worst, abs(err))
    same = "" if (b == pred["bytes"] and r == pred["rounds"]) else " (counters differ from the prediction!)"
    print(f"| {model} | {batch} | {net} | {name} | `{pred['sharings'].replace('|', '&#124;')}` | {fmt(pred['online_ms'])} | {fmt(meas)} | {100*err:+.0f} % | {b/1e6:.3f} MB{same} | {r} |")
print(f"\nLargest |error|: {100*worst:.0f} %")
