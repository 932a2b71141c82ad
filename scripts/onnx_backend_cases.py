#!/usr/bin/env python3
"""Extract the ONNX backend test cases `pytorch-converted` into the fixtures of
cli/tests/onnx_backend.rs (the ONNX backend conformance suite).

    pip install onnx==1.23.2 numpy
    python3 scripts/onnx_backend_cases.py            # (re)write the fixtures
    python3 scripts/onnx_backend_cases.py --check    # compare with the committed ones, write nothing
    # made with onnx 1.23.2 (its wheel), numpy 2.4.6, Python 3.11.7

Source: the `onnx` Python package carries the ONNX project's backend test data; the cases are
`onnx/backend/test/data/pytorch-converted/<case>/` inside the installed wheel (and the sdist),
by default found next to the `onnx` module imported here (`--source DIR` to name another copy).
Each case there is `model.onnx` (a PyTorch module converted to ONNX) and
`test_data_set_0/input_0.pb`, `test_data_set_0/output_0.pb` (TensorProto). Every case has
exactly one input and one output; this script checks it.

Writes `cli/tests/fixtures/onnx-backend/pytorch-converted/`:
* `<case>/model.onnx`    the case's model, byte for byte;
* `<case>/input.npy`     input_0.pb as a numpy array, its dtype kept (float32, or int64 for
                         test_Embedding*), `numpy.save` format 1.0;
* `<case>/expected.npy`  output_0.pb likewise (float32);
* `README.md`            the source, the cases left out, and one line per case (its operators,
                         input and output shapes);
* `SHA256SUMS`           the SHA-256 of every file above, sorted by path, in `sha256sum` format
                         (`cd .../pytorch-converted && sha256sum -c SHA256SUMS`).

Left out (LEFT_OUT below): the two stress cases `test_MaxPool1d_stride_padding_dilation`
(input 1×1×220,000) and `test_MaxPool2d_stride_padding_dilation` (input 1×1×1000×1000), whose
inputs of 10^5–10^6 elements make them tests of throughput, not of operator semantics, and would
add 5 MB to the repository. 80 of the 82 cases remain.

The output is a pure function of the source files: running the script again reproduces every
file byte for byte (`--check` verifies it against the committed files).
"""

import argparse
import hashlib
import io
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "cli", "tests", "fixtures", "onnx-backend", "pytorch-converted")
SOURCE_IN_PACKAGE = "onnx/backend/test/data/pytorch-converted"
MADE_WITH = "1.23.2"
LEFT_OUT = {
    "test_MaxPool1d_stride_padding_dilation": "stress case: input 1×1×220,000 (10^5 elements)",
    "test_MaxPool2d_stride_padding_dilation": "stress case: input 1×1×1000×1000 (10^6 elements)",
}
EXPECTED_CASES = 80


def read_tensor(path):
    t = onnx.TensorProto()
    with open(path, "rb") as fh:
        t.ParseFromString(fh.read())
    return numpy_helper.to_array(t)


def npy_bytes(a):
    """`numpy.save` of `a` (C order, little-endian, format 1.0) as bytes."""
    a = np.ascontiguousarray(a)
    assert a.dtype.byteorder in ("<", "=", "|"), a.dtype
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=(1, 0), allow_pickle=False)
    return buf.getvalue()


def shape(a):
    return "×".join(str(d) for d in a.shape)


def extract(source):
    """The files to write, {relative path: bytes}, and the README's rows."""
    files, rows = {}, []
    cases = sorted(d for d in os.listdir(source) if os.path.isdir(os.path.join(source, d)))
    missing = sorted(set(LEFT_OUT) - set(cases))
    assert not missing, f"left-out cases not in the source: {missing}"
    for case in cases:
        if case in LEFT_OUT:
            continue
        src = os.path.join(source, case)
        data = os.path.join(src, "test_data_set_0")
        assert sorted(os.listdir(src)) == ["model.onnx", "test_data_set_0"], (case, os.listdir(src))
        assert sorted(os.listdir(data)) == ["input_0.pb", "output_0.pb"], (case, os.listdir(data))
        with open(os.path.join(src, "model.onnx"), "rb") as fh:
            model_bytes = fh.read()
        m = onnx.load_from_string(model_bytes)
        inits = {i.name for i in m.graph.initializer}
        inputs = [i for i in m.graph.input if i.name not in inits]
        assert len(inputs) == 1 and len(m.graph.output) == 1, case
        x = read_tensor(os.path.join(data, "input_0.pb"))
        y = read_tensor(os.path.join(data, "output_0.pb"))
        assert x.dtype in (np.float32, np.int64) and y.dtype == np.float32, (case, x.dtype, y.dtype)
        assert (x.dtype == np.int64) == case.startswith("test_Embedding"), (case, x.dtype)
        files[f"{case}/model.onnx"] = model_bytes
        files[f"{case}/input.npy"] = npy_bytes(x)
        files[f"{case}/expected.npy"] = npy_bytes(y)
        ops = ", ".join(sorted({n.op_type for n in m.graph.node}))
        opset = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import)
        rows.append(f"| `{case}` | {ops} | {opset} | {x.dtype} {shape(x)} | {shape(y)} |")
    assert len(rows) == EXPECTED_CASES, f"{len(rows)} cases, expected {EXPECTED_CASES}"
    return files, rows


def readme(rows):
    left = "\n".join(f"* `{c}` — {why}" for c, why in sorted(LEFT_OUT.items()))
    table = "\n".join(rows)
    return f"""# ONNX backend test cases: `pytorch-converted`

Written by `scripts/onnx_backend_cases.py` (do not edit by hand); read by
`cli/tests/onnx_backend.rs`. See the README's *Testing: ONNX backend conformance*.

**Source.** The ONNX project's backend test data as shipped in the `onnx` {MADE_WITH} Python
wheel (and sdist): `{SOURCE_IN_PACKAGE}/<case>/model.onnx` and
`<case>/test_data_set_0/{{input_0.pb, output_0.pb}}`. Each case is one PyTorch module converted
to ONNX with one input and one output. Licence: Apache-2.0, as the `onnx` package.

**Files.** Per case: `model.onnx` (byte for byte), `input.npy` and `expected.npy` (the
TensorProtos as `numpy.save` arrays, dtype kept: float32, int64 for `test_Embedding*`).
`SHA256SUMS` holds the SHA-256 of every file here but itself (`sha256sum -c SHA256SUMS`).

**Left out** ({len(LEFT_OUT)} of {EXPECTED_CASES + len(LEFT_OUT)} cases), as tests of throughput rather than of operator
semantics whose inputs would add 5 MB to the repository:

{left}

**Cases** ({len(rows)}): operators of the graph, opset, input dtype and shape, output shape.

| case | operators | opset | input | output |
|---|---|---|---|---|
{table}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", help=f"the pytorch-converted directory (default: {SOURCE_IN_PACKAGE} "
                                     "of the imported onnx package)")
    ap.add_argument("--check", action="store_true",
                    help="compare with the files on disk and write nothing; exit 1 on a difference")
    args = ap.parse_args()
    source = args.source or os.path.join(os.path.dirname(os.path.dirname(onnx.__file__)),
                                         *SOURCE_IN_PACKAGE.split("/"))
    if onnx.__version__ != MADE_WITH:
        print(f"warning: onnx {onnx.__version__}, the fixtures were made with {MADE_WITH}",
              file=sys.stderr)
    files, rows = extract(source)
    files["README.md"] = readme(rows).encode()
    sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {p}\n" for p, b in sorted(files.items()))
    files["SHA256SUMS"] = sums.encode()

    on_disk = set()
    if os.path.isdir(OUT):
        for d, _, fs in os.walk(OUT):
            on_disk.update(os.path.relpath(os.path.join(d, f), OUT).replace(os.sep, "/") for f in fs)
    stale = sorted(on_disk - set(files))
    if args.check:
        bad = [p for p, b in sorted(files.items())
               if not os.path.isfile(os.path.join(OUT, p)) or open(os.path.join(OUT, p), "rb").read() != b]
        for p in bad:
            print(f"differs or missing: {p}", file=sys.stderr)
        for p in stale:
            print(f"not made by the script: {p}", file=sys.stderr)
        if bad or stale:
            sys.exit(1)
        print(f"ok: {len(files)} files in {os.path.relpath(OUT, REPO)} are what the script makes")
        return
    for p in stale:
        os.remove(os.path.join(OUT, p))
    for p, b in files.items():
        path = os.path.join(OUT, p)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(b)
    total = sum(len(b) for b in files.values())
    print(f"wrote {len(rows)} cases, {len(files)} files, {total} bytes to {os.path.relpath(OUT, REPO)}")


if __name__ == "__main__":
    main()
