#!/usr/bin/env python3
"""Accuracy of an ONNX model in onnxruntime on the 2,000 embedded MNIST test digits.

    pip install onnxruntime numpy
    python3 models/train/onnxruntime_accuracy.py trained.onnx

A check, outside the Rust tests, that a model `tessera train --out` writes runs in another
ONNX runtime with the test accuracy the training reported. Data: models/data/mnist-10k.bin.gz
(format in models/data/README.md), test = records 8000..9999, input = pixel / 255 as float32,
shaped as the model's input (`[N, 784]` or `[N, 1, 28, 28]`).
"""
import gzip
import pathlib
import struct
import sys

import numpy as np
import onnxruntime as ort

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "mnist-10k.bin.gz"


def main(path: str) -> None:
    raw = gzip.open(DATA).read()
    if raw[:8] != b"TSMNIST1":
        sys.exit(f"{DATA}: not a TSMNIST1 file")
    n, rows, cols = struct.unpack("<III", raw[8:20])
    pixels = np.frombuffer(raw, np.uint8, n * rows * cols, 20).reshape(n, rows * cols)
    labels = np.frombuffer(raw, np.uint8, n, 20 + n * rows * cols)
    x, y = pixels[8000:10000].astype(np.float32) / 255.0, labels[8000:10000]
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    graph_input = session.get_inputs()[0]
    if len(graph_input.shape) > 2:
        x = x.reshape([-1] + [int(d) for d in graph_input.shape[1:]])
    logits = session.run(None, {graph_input.name: x})[0]
    accuracy = 100.0 * float(np.mean(logits.argmax(axis=1) == y))
    print(f"{path}: onnxruntime {ort.__version__}, input {graph_input.shape}, "
          f"accuracy {accuracy:.2f} % on the 2,000 test digits")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
