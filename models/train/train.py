#!/usr/bin/env python3
"""Train Tessera's two reference models on MNIST-10k and export them to ONNX.

    python3 models/train/train.py            # writes models/onnx/{mlp,cnn}.onnx and float_reference.json

* Data: models/data/mnist-10k.bin.gz (format in models/data/README.md); train = records 0..7999,
  test = records 8000..9999. Input = pixel / 255 as float32, shape [N, 1, 28, 28] for both models.
* MLP (SecureML): Flatten -> Gemm(784->128) -> Relu -> Gemm(128->128) -> Relu -> Gemm(128->10).
* CNN (Chameleon / CryptoNets): Conv(1->5, 5x5, stride 2, pads 1) -> Relu -> Flatten
  -> Gemm(845->100) -> Relu -> Gemm(100->10).
* Training in numpy only (float64, Adam, mini-batches, L2 weight decay on the weight matrices,
  cosine learning-rate decay, random +-1 pixel translations of the training digits), conv by im2col. Everything random comes from one
  numpy Generator(PCG64(seed)) per model, so the same seed gives byte-identical ONNX files
  (for the same numpy build and CPU; BLAS is pinned to one thread for that reason).
* Export: ONNX opset 13, IR version 7, float32 initializers, batch dimension "N", input "input",
  output "logits"; onnx.checker; then the file is run with onnx.reference.ReferenceEvaluator on the
  2,000 test digits and compared with the numpy float32 forward pass.
"""

import os

# One BLAS thread: deterministic summation order, and leaves the second core to the compilers.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import gzip  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
N_TRAIN = 8000


# ----------------------------------------------------------------------------------------- data

def load_mnist(path):
    raw = gzip.open(path, "rb").read()
    assert raw[:8] == b"TSMNIST1", "bad magic"
    count, rows, cols = struct.unpack_from("<III", raw, 8)
    npx = count * rows * cols
    assert len(raw) == 20 + npx + count, "bad length"
    px = np.frombuffer(raw, dtype=np.uint8, count=npx, offset=20).reshape(count, 1, rows, cols)
    labels = np.frombuffer(raw, dtype=np.uint8, count=count, offset=20 + npx).astype(np.int64)
    x = px.astype(np.float32) / np.float32(255.0)  # correctly rounded f32 of k/255
    return x, labels, hashlib.sha256(raw).hexdigest()


# ----------------------------------------------------------------------------------------- layers

def im2col(x, k=5, stride=2, pad=1):
    """x [N,C,H,W] -> cols [N, OH*OW, C*k*k] (patch order c, ky, kx, as ONNX's weight [M,C,k,k])."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    cols = np.empty((n, c, k, k, oh, ow), dtype=x.dtype)
    for ky in range(k):
        for kx in range(k):
            cols[:, :, ky, kx] = xp[:, :, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n, oh * ow, c * k * k), oh, ow


def softmax_xent(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    loss = -np.log(p[np.arange(n), y] + 1e-300).mean()
    g = p
    g[np.arange(n), y] -= 1.0
    return loss, g / n


class MLP:
    name = "mlp"
    sizes = [(784, 128), (128, 128), (128, 10)]

    def __init__(self, rng):
        self.p = {}
        for i, (fi, fo) in enumerate(self.sizes):
            self.p[f"W{i}"] = rng.normal(0.0, np.sqrt(2.0 / fi), size=(fo, fi))  # [out, in], Gemm transB=1
            self.p[f"b{i}"] = np.zeros(fo)

    def forward(self, x, keep=False):
        h = x.reshape(x.shape[0], -1)
        cache = []
        for i in range(len(self.sizes)):
            a = h @ self.p[f"W{i}"].T + self.p[f"b{i}"]
            cache.append((h, a))
            h = np.maximum(a, 0) if i < len(self.sizes) - 1 else a
        if keep:
            self.cache = cache
        return h

    def backward(self, g):
        grads = {}
        for i in reversed(range(len(self.sizes))):
            h, a = self.cache[i]
            if i < len(self.sizes) - 1:
                g = g * (a > 0)
            grads[f"W{i}"] = g.T @ h
            grads[f"b{i}"] = g.sum(axis=0)
            g = g @ self.p[f"W{i}"]
        return grads

    def to_onnx(self, p32, doc):
        nodes = [
            helper.make_node("Flatten", ["input"], ["flat"], name="flatten", axis=1),
            gemm("fc1", "flat", "W0", "b0", "fc1_out"),
            helper.make_node("Relu", ["fc1_out"], ["relu1"], name="relu1"),
            gemm("fc2", "relu1", "W1", "b1", "fc2_out"),
            helper.make_node("Relu", ["fc2_out"], ["relu2"], name="relu2"),
            gemm("fc3", "relu2", "W2", "b2", "logits"),
        ]
        inits = [("W0", "fc1.weight"), ("b0", "fc1.bias"), ("W1", "fc2.weight"), ("b1", "fc2.bias"),
                 ("W2", "fc3.weight"), ("b2", "fc3.bias")]
        return build_model("tessera_mlp", nodes, p32, inits, doc)


class CNN:
    name = "cnn"
    C_OUT, K, STRIDE, PAD = 5, 5, 2, 1

    def __init__(self, rng):
        k = self.K
        self.p = {
            "Wc": rng.normal(0.0, np.sqrt(2.0 / (k * k)), size=(self.C_OUT, 1, k, k)),
            "bc": np.zeros(self.C_OUT),
            "W1": rng.normal(0.0, np.sqrt(2.0 / 845), size=(100, 845)),
            "b1": np.zeros(100),
            "W2": rng.normal(0.0, np.sqrt(2.0 / 100), size=(10, 100)),
            "b2": np.zeros(10),
        }

    def forward(self, x, keep=False):
        n = x.shape[0]
        cols, oh, ow = im2col(x, self.K, self.STRIDE, self.PAD)            # [N, 169, 25]
        wc = self.p["Wc"].reshape(self.C_OUT, -1)                          # [5, 25]
        conv = cols @ wc.T + self.p["bc"]                                   # [N, 169, 5]
        conv = conv.transpose(0, 2, 1).reshape(n, self.C_OUT * oh * ow)    # [N, 845] as Flatten(N,5,13,13)
        r0 = np.maximum(conv, 0)
        a1 = r0 @ self.p["W1"].T + self.p["b1"]
        r1 = np.maximum(a1, 0)
        out = r1 @ self.p["W2"].T + self.p["b2"]
        if keep:
            self.cache = (cols, oh, ow, conv, r0, a1, r1)
        return out

    def backward(self, g):
        cols, oh, ow, conv, r0, a1, r1 = self.cache
        n = g.shape[0]
        grads = {"W2": g.T @ r1, "b2": g.sum(axis=0)}
        g = (g @ self.p["W2"]) * (a1 > 0)
        grads["W1"] = g.T @ r0
        grads["b1"] = g.sum(axis=0)
        g = (g @ self.p["W1"]) * (conv > 0)                                 # [N, 845]
        g = g.reshape(n, self.C_OUT, oh * ow).transpose(0, 2, 1)            # [N, 169, 5]
        grads["Wc"] = np.einsum("npc,npk->ck", g, cols).reshape(self.p["Wc"].shape)
        grads["bc"] = g.sum(axis=(0, 1))
        return grads

    def to_onnx(self, p32, doc):
        nodes = [
            helper.make_node("Conv", ["input", "Wc", "bc"], ["conv_out"], name="conv",
                             kernel_shape=[5, 5], strides=[2, 2], pads=[1, 1, 1, 1],
                             dilations=[1, 1], group=1),
            helper.make_node("Relu", ["conv_out"], ["relu0"], name="relu0"),
            helper.make_node("Flatten", ["relu0"], ["flat"], name="flatten", axis=1),
            gemm("fc1", "flat", "W1", "b1", "fc1_out"),
            helper.make_node("Relu", ["fc1_out"], ["relu1"], name="relu1"),
            gemm("fc2", "relu1", "W2", "b2", "logits"),
        ]
        inits = [("Wc", "conv.weight"), ("bc", "conv.bias"), ("W1", "fc1.weight"), ("b1", "fc1.bias"),
                 ("W2", "fc2.weight"), ("b2", "fc2.bias")]
        return build_model("tessera_cnn", nodes, p32, inits, doc)


# ----------------------------------------------------------------------------------------- onnx

def gemm(name, x, w, b, y):
    return helper.make_node("Gemm", [x, w, b], [y], name=name,
                            alpha=1.0, beta=1.0, transA=0, transB=1)


def build_model(graph_name, nodes, p32, inits, doc):
    # Initializer names are the readable ones ("fc1.weight"); nodes refer to them through the map.
    rename = {k: v for k, v in inits}
    for node in nodes:
        for i, inp in enumerate(node.input):
            if inp in rename:
                node.input[i] = rename[inp]
    initializers = [numpy_helper.from_array(p32[k], name=v) for k, v in inits]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])
    graph = helper.make_graph(nodes, graph_name, [x], [y], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="tessera models/train/train.py", producer_version="1",
                              doc_string=doc)
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    return model


# ----------------------------------------------------------------------------------------- training

def random_shift(xb, rng, s):
    """Translate each image by an independent random (dy, dx) in [-s, s]^2, zero fill."""
    if s == 0:
        return xb
    n, _, h, w = xb.shape
    xp = np.pad(xb, ((0, 0), (0, 0), (s, s), (s, s)))
    d = rng.integers(0, 2 * s + 1, size=(n, 2))
    out = np.empty_like(xb)
    for i in range(n):
        out[i] = xp[i, :, d[i, 0]:d[i, 0] + h, d[i, 1]:d[i, 1] + w]
    return out


def train(model, x_tr, y_tr, rng, epochs, lr, wd, batch, shift, log):
    params = model.p
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    n = x_tr.shape[0]
    steps_per_epoch = n // batch
    total = epochs * steps_per_epoch
    t = 0
    for ep in range(epochs):
        order = rng.permutation(n)
        tot_loss = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * batch:(s + 1) * batch]
            logits = model.forward(random_shift(x_tr[idx], rng, shift), keep=True)
            loss, g = softmax_xent(logits, y_tr[idx])
            tot_loss += loss
            grads = model.backward(g)
            t += 1
            lr_t = lr * 0.5 * (1.0 + np.cos(np.pi * (t - 1) / total))
            for k in params:
                gk = grads[k]
                if k.startswith("W"):
                    gk = gk + wd * params[k]
                m[k] = b1 * m[k] + (1 - b1) * gk
                v[k] = b2 * v[k] + (1 - b2) * gk * gk
                mh = m[k] / (1 - b1 ** t)
                vh = v[k] / (1 - b2 ** t)
                params[k] -= lr_t * mh / (np.sqrt(vh) + eps)
        log(f"  {model.name} epoch {ep + 1:2d}/{epochs}: train loss {tot_loss / steps_per_epoch:.4f}")


def forward32(model, p32, x):
    """The float32 forward pass of the exported weights (what the ONNX file computes)."""
    saved = model.p
    model.p = p32
    try:
        return model.forward(x.astype(np.float32))
    finally:
        model.p = saved


def activation_ranges(model, p32, x):
    """Max |value| of every intermediate tensor on x (float32 weights), for fixed-point planning."""
    saved = model.p
    model.p = {k: v.astype(np.float64) for k, v in p32.items()}
    try:
        model.forward(x.astype(np.float64), keep=True)
        cache = model.cache
    finally:
        model.p = saved
    if isinstance(model, MLP):
        return {f"fc{i + 1}_out": float(np.abs(a).max()) for i, (h, a) in enumerate(cache)}
    cols, oh, ow, conv, r0, a1, r1 = cache
    return {"conv_out": float(np.abs(conv).max()), "fc1_out": float(np.abs(a1).max())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(MODELS, "data", "mnist-10k.bin.gz"))
    ap.add_argument("--out", default=os.path.join(MODELS, "onnx"))
    ap.add_argument("--mlp-epochs", type=int, default=20)
    ap.add_argument("--cnn-epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=5e-4, help="L2 weight decay on weight matrices")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--shift", type=int, default=1, help="training augmentation: random translation, pixels")
    args = ap.parse_args()

    def log(s):
        print(s, flush=True)

    t0 = time.time()
    x, y, data_sha = load_mnist(args.data)
    x_tr, y_tr = x[:N_TRAIN].astype(np.float64), y[:N_TRAIN]
    x_te, y_te = x[N_TRAIN:], y[N_TRAIN:]
    log(f"data {args.data}: payload sha256 {data_sha}; train {len(y_tr)}, test {len(y_te)}")
    log(f"numpy {np.__version__}, onnx {onnx.__version__}, seed {args.seed}")

    from onnx.reference import ReferenceEvaluator

    os.makedirs(args.out, exist_ok=True)
    reference = {
        "description": "Float32 reference of models/onnx/*.onnx on the MNIST-10k test split "
                       "(records 8000..9999 of models/data/mnist-10k.bin.gz, input pixel/255 as f32, "
                       "shape [N,1,28,28]). predicted_labels[t] = argmax of the ONNX model's logits "
                       "for test record t, as computed by onnx.reference.ReferenceEvaluator.",
        "data_payload_sha256": data_sha,
        "test_records": [N_TRAIN, len(y)],
        "seed": args.seed,
        "models": {},
    }
    for cls, epochs, offset in ((MLP, args.mlp_epochs, 0), (CNN, args.cnn_epochs, 1)):
        rng = np.random.Generator(np.random.PCG64([args.seed, offset]))
        model = cls(rng)
        t1 = time.time()
        log(f"training {cls.name}: {epochs} epochs, Adam lr {args.lr} (cosine), wd {args.wd}, "
            f"batch {args.batch}, random shift +-{args.shift} px")
        train(model, x_tr, y_tr, rng, epochs, args.lr, args.wd, args.batch, args.shift, log)
        p32 = {k: v.astype(np.float32) for k, v in model.p.items()}
        train_acc = float((forward32(model, p32, x[:N_TRAIN]).argmax(1) == y_tr).mean())

        doc = (f"Tessera reference {cls.name.upper()} for MNIST; trained by models/train/train.py "
               f"--seed {args.seed} ({epochs} epochs, lr {args.lr}, wd {args.wd}, batch {args.batch}, "
               f"shift {args.shift}) on records 0..7999 of models/data/mnist-10k.bin.gz. "
               f"Input: pixel/255 as float32, [N,1,28,28]. Output: logits [N,10].")
        mdl = model.to_onnx(p32, doc)
        path = os.path.join(args.out, f"{cls.name}.onnx")
        data = mdl.SerializeToString()
        with open(path, "wb") as f:
            f.write(data)
        onnx.checker.check_model(path, full_check=True)

        # Verify the file itself against the numpy float32 forward pass.
        sess = ReferenceEvaluator(onnx.load(path))
        onnx_logits = sess.run(None, {"input": x_te})[0]
        np_logits = forward32(model, p32, x_te)
        diff = float(np.abs(onnx_logits - np_logits).max())
        onnx_pred = onnx_logits.argmax(1)
        same = bool((onnx_pred == np_logits.argmax(1)).all())
        acc = float((onnx_pred == y_te).mean())
        srt = np.sort(onnx_logits, axis=1)
        margin = srt[:, -1] - srt[:, -2]
        sha = hashlib.sha256(data).hexdigest()
        wmax = {k: float(np.abs(v).max()) for k, v in p32.items()}
        act = activation_ranges(model, p32, x_te)
        log(f"  {cls.name}: wrote {path} ({len(data)} bytes, sha256 {sha})")
        log(f"  {cls.name}: train acc {train_acc:.4f}; FLOAT TEST ACCURACY {acc:.4f} ({int((onnx_pred == y_te).sum())}/{len(y_te)})")
        log(f"  {cls.name}: ONNX ReferenceEvaluator vs numpy f32: max |logit diff| {diff:.3g}, argmax identical: {same}")
        log(f"  {cls.name}: max |weight| {max(wmax.values()):.4f} {wmax}")
        log(f"  {cls.name}: max |pre-activation| on test {act}; max |logit| {float(np.abs(onnx_logits).max()):.3f}")
        log(f"  {cls.name}: smallest top1-top2 logit margin {float(margin.min()):.3g}; "
            f"{int((margin < 0.01).sum())} test digits under 0.01 ({time.time() - t1:.1f}s)")
        if not same or diff > 1e-4:
            sys.exit(f"{cls.name}: ONNX file disagrees with the numpy forward pass")
        ort_check(path, x_te, onnx_logits, log)

        reference["models"][cls.name] = {
            "onnx": f"models/onnx/{cls.name}.onnx",
            "onnx_sha256": sha,
            "epochs": epochs,
            "float_test_accuracy": acc,
            "correct": int((onnx_pred == y_te).sum()),
            "total": int(len(y_te)),
            "train_accuracy": train_acc,
            "min_top2_margin": round(float(margin.min()), 6),
            "low_margin_test_indices": [int(i) for i in np.nonzero(margin < 0.01)[0]],
            "predicted_labels": [int(v) for v in onnx_pred],
        }

    ref_path = os.path.join(args.out, "float_reference.json")
    text = compact_lists(reference)
    with open(ref_path, "w") as f:
        f.write(text)
    log(f"wrote {ref_path}; total {time.time() - t0:.1f}s")


def ort_check(path, x_te, onnx_logits, log):
    """Optional second opinion from onnxruntime, when it is installed (not required)."""
    try:
        import onnxruntime as ort
    except ImportError:
        log("  (onnxruntime not installed: skipped the second check)")
        return
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"input": x_te})[0]
    diff = float(np.abs(logits - onnx_logits).max())
    same = bool((logits.argmax(1) == onnx_logits.argmax(1)).all())
    log(f"  onnxruntime {ort.__version__} vs ReferenceEvaluator: max |logit diff| {diff:.3g}, argmax identical: {same}")
    if not same or diff > 1e-4:
        sys.exit(f"{path}: onnxruntime disagrees with onnx.reference")


def compact_lists(obj, indent=0):
    """JSON with dicts indented and lists of numbers on one line."""
    pad = " " * indent
    if isinstance(obj, dict):
        items = [f'{pad} {json.dumps(k)}: {compact_lists(v, indent + 1).lstrip()}' for k, v in obj.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}" + ("\n" if indent == 0 else "")
    return pad + json.dumps(obj)


if __name__ == "__main__":
    main()
