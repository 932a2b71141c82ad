#!/usr/bin/env python3
"""The README's model-zoo table from `tessera bench --zoo` results.

Usage: zoo_table.py RESULTS.json

One row per network and plan (the sharings of each are in results.md): parameters, online and offline time on lan and on wan
(median of the measured repetitions; a plan over the time budget shows the planner's prediction in
italics, marked "pred."), online bytes of both parties and rounds (exact, equal on lan and wan for a
baseline; `auto` may choose differently per network, so its lan plan's counts are shown and the wan
plan's added when they differ).
"""
import json
import sys

PARAMS = {"secureml-mlp": 118282, "chameleon-cnn": 85740, "minionn-mnist": 33542, "lenet5": 61706,
          "minionn-cifar": 164954, "resnet20": 272474}
ORDER = list(PARAMS)
PLANS = ["auto", "a+b", "a+y", "pure-b", "pure-y"]


def t(ns):
    ms = ns / 1e6
    if ms >= 1e5:
        return f"{ms / 1e3:,.0f} s"
    if ms >= 1000:
        return f"{ms / 1e3:.2f} s"
    return f"{ms:.1f} ms"


def mb(b):
    return f"{b / 1e6:,.2f} MB" if b < 1e9 else f"{b / 1e9:,.1f} GB"


r = json.load(open(sys.argv[1]))
cells = {}
for s in r["scenarios"]:
    model, plan = s["name"].split("/")
    c = s["counters"]
    cells[(model, plan, s["network"])] = {
        "on": t(s["online_ns"]["median"]), "off": t(s["offline_ns"]["median"]),
        "bytes": c["party0"]["online"]["bytes_sent"] + c["party1"]["online"]["bytes_sent"],
        "rounds": max(c["party0"]["online"]["rounds"], c["party1"]["online"]["rounds"]),
        "sharings": (s.get("predicted") or {}).get("sharings", "")}
for s in r.get("predicted_only", []):
    model, plan = s["name"].split("/")
    p = s["predicted"]
    cells[(model, plan, s["network"])] = {
        "on": f"*{t(p['online_ns'])} pred.*", "off": f"*{t(p['offline_ns'])} pred.*",
        "bytes": p["bytes"], "rounds": p["rounds"], "sharings": p["sharings"]}

print("| network | params | plan | lan online | lan offline | wan online | wan offline"
      " | online bytes (p0+p1) | rounds |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
for m in ORDER:
    for plan in PLANS:
        lan, wan = cells.get((m, plan, "lan")), cells.get((m, plan, "wan"))
        if not lan and not wan:
            continue
        ref = lan or wan
        b, rd = mb(ref["bytes"]), str(ref["rounds"])
        if lan and wan and (lan["bytes"], lan["rounds"]) != (wan["bytes"], wan["rounds"]):
            b += f" (wan: {mb(wan['bytes'])})"
            rd += f" (wan: {wan['rounds']})"
        print(f"| {m} | {PARAMS[m]:,} | {plan} | {lan['on'] if lan else ''} | {lan['off'] if lan else ''}"
              f" | {wan['on'] if wan else ''} | {wan['off'] if wan else ''} | {b} | {rd} |")
