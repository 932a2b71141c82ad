#!/usr/bin/env python3
"""The cost of TLS on a deployed model query: the CNN (or any embedded model) at batch 1,
three processes (dealer, party 0, party 1) on this machine, `--network lan` (or another
profile), alternating `--insecure` and `--keys` sessions; prints each session's online
time (the slower party's) and the medians.

Usage (from the repository root, after `cargo build --release -p tessera-cli`):
    python3 bench-suite/tls_cost.py [--model cnn] [--plan auto] [--runs 9] [--network lan]

Keys are made once into a temporary directory with `tessera keygen`.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def listening(p):
    """The address a process prints as `listening on ADDR` on stderr."""
    while True:
        line = p.stderr.readline()
        if not line:
            raise SystemExit("the process exited before listening")
        m = re.search(r"listening on (\S+)", line)
        if m:
            return m.group(1)


def keys(tessera, root):
    for role in ("dealer", "party0", "party1"):
        subprocess.run([tessera, "keygen", "--out", f"{root}/{role}", "--name", role],
                       check=True, capture_output=True)
    for role in ("dealer", "party0", "party1"):
        for other in ("dealer", "party0", "party1"):
            if other != role:
                shutil.copy(f"{root}/{other}/{other}.crt", f"{root}/{role}/")


def session(tessera, mode, root, args):
    sec = (lambda r: ["--keys", f"{root}/{r}"]) if mode == "tls" else (lambda r: ["--insecure"])
    s = os.urandom(16).hex()
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    d = subprocess.Popen([tessera, "dealer", "--listen", "127.0.0.1:0", *sec("dealer")], **pipes)
    da = listening(d)
    job = ["model", "--model", args.model, "--plan", args.plan, "--batch", "1"]
    net = ["--network", args.network, "--json"]
    p0 = subprocess.Popen([tessera, "party", "--id", "0", "--session", s, *sec("party0"),
                           "--listen", "127.0.0.1:0", "--dealer", da, *net, *job], **pipes)
    pa = listening(p0)
    p1 = subprocess.run([tessera, "party", "--id", "1", "--session", s, *sec("party1"),
                         "--connect", pa, "--dealer", da, *net, *job, "--dataset", "mnist"],
                        capture_output=True, text=True, timeout=300)
    out0, _ = p0.communicate(timeout=300)
    d.communicate(timeout=60)
    if p1.returncode != 0 or p0.returncode != 0:
        raise SystemExit(f"{mode} session failed: {p1.stderr}")
    return max(json.loads(out0)["online_ms"], json.loads(p1.stdout)["online_ms"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tessera", default=f"{ROOT}/target/release/tessera")
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--plan", default="auto")
    ap.add_argument("--network", default="lan")
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        keys(args.tessera, root)
        runs = {"plain": [], "tls": []}
        print("load average before:", os.getloadavg())
        for _ in range(args.runs):
            for mode in runs:
                runs[mode].append(session(args.tessera, mode, root, args))
        print("load average after:", os.getloadavg())
    for mode, v in runs.items():
        print(f"{mode}: online ms {[round(x, 2) for x in v]}, median {statistics.median(v):.2f}")
    print(f"tls / plain: {statistics.median(runs['tls']) / statistics.median(runs['plain']):.3f}")


if __name__ == "__main__":
    main()
