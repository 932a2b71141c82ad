#!/usr/bin/env python3
"""Make the model zoo: the literature's secure-inference benchmark networks as ONNX files.

    python3 models/zoo/make_zoo.py            # writes the zoo next to this script (about 1 min)
    python3 models/zoo/make_zoo.py --imagenet DIR
                                              # also writes resnet50.onnx and vgg16.onnx (random
                                              # weights, 102 MB and 553 MB) into DIR: not committed,
                                              # for `tessera plan` only
    # made with torch 2.15.0 (CPU), onnx 1.23.2, onnxruntime 1.32.0, numpy 2.4.6, Python 3.11.7

Every model is a PyTorch module written the way the paper describes it, exported the usual way
(`torch.onnx.export`, the TorchScript exporter `dynamo=False`, opset 13, `model.eval()`, dynamic
batch), checked with `onnx.checker` and run by onnxruntime, whose output must equal PyTorch's
within 1e-5. See README.md for the networks, their sources and what the weights are.

Writes, next to this script:
* minionn_mnist.onnx   MiniONN's MNIST network (Liu et al., CCS 2017, Fig. 12), trained on MNIST
* lenet5.onnx          LeNet-5 as PyTorch tutorials define it, trained on MNIST
* minionn_cifar.onnx   MiniONN's CIFAR-10 network (7 convolutions, mean pooling), seeded random
* resnet20.onnx        ResNet-20 for CIFAR-10 (He et al. 2016, option B shortcuts), seeded random
* input_<name>.npy     the committed test input of each model (3 examples)
* zoo_expected.json    per model: input, onnxruntime's output, labels, op types, parameter
                       count, file SHA-256 and (MNIST models) the test accuracy
The SecureML MLP and the Chameleon/CryptoNets CNN are the embedded `mlp` and `cnn`
(models/onnx/): not written again here.
"""

import argparse
import gzip
import hashlib
import json
import os
import platform
import struct

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "mnist-10k.bin.gz")
SEED = 20251203

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# ------------------------------------------------------------------------------------ networks

class MiniOnnMnist(nn.Module):
    """MiniONN Fig. 12: conv 5x5 16 (valid) -> ReLU -> maxpool 2 -> conv 5x5 16 -> ReLU ->
    maxpool 2 -> FC 256->100 -> ReLU -> FC 100->10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.conv2 = nn.Conv2d(16, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class LeNet5(nn.Module):
    """LeNet-5 as PyTorch tutorials write it (models/tests/fixtures/make_torch_fixtures.py)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class MiniOnnCifar(nn.Module):
    """MiniONN's CIFAR-10 network (Liu et al., CCS 2017, Fig. 13): seven convolutions, two mean
    poolings, one FC; 3x3 convolutions padded to keep the size, 1x1 convolutions unpadded."""

    def __init__(self):
        super().__init__()
        c3 = lambda i, o: nn.Conv2d(i, o, 3, padding=1)  # noqa: E731
        self.features = nn.Sequential(
            c3(3, 64), nn.ReLU(), c3(64, 64), nn.ReLU(), nn.AvgPool2d(2),
            c3(64, 64), nn.ReLU(), c3(64, 64), nn.ReLU(), nn.AvgPool2d(2),
            c3(64, 64), nn.ReLU(), nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 16, 1), nn.ReLU())
        self.fc = nn.Linear(16 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    """He et al. 2016's CIFAR block; a 1x1 strided Conv + BatchNorm shortcut (option B) where
    the shape changes."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or inplanes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """ResNet-20 for CIFAR-10: 3x3 conv 16, three stages of three blocks (16, 32, 64 channels,
    stride 2 at the first block of stages 2 and 3), global average pooling, FC 64->10."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, inplanes = [], 16
        for planes, stride in [(16, 1), (32, 2), (64, 2)]:
            for b in range(3):
                layers.append(BasicBlock(inplanes, planes, stride if b == 0 else 1))
                inplanes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


# ImageNet-scale shapes for `tessera plan` (torchvision's definitions, layer for layer).

class Bottleneck(nn.Module):
    """torchvision's ResNet Bottleneck (v1.5: the stride on the 3x3 conv)."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        blocks, inplanes = [], 64
        for planes, n, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            for b in range(n):
                blocks.append(Bottleneck(inplanes, planes, stride if b == 0 else 1))
                inplanes = planes * 4
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class Vgg16(nn.Module):
    """torchvision's vgg16 (configuration D, no BatchNorm); its AdaptiveAvgPool2d((7, 7)) is the
    identity on a 224x224 input and is left out (the exporter writes it as a no-op pooling);
    Dropout disappears in eval mode."""

    CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]

    def __init__(self, num_classes=1000):
        super().__init__()
        layers, c = [], 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


# ------------------------------------------------------------------------------------ helpers

def load_mnist():
    raw = gzip.open(DATA, "rb").read()
    assert raw[:8] == b"TSMNIST1", "bad magic"
    count, rows, cols = struct.unpack_from("<III", raw, 8)
    npx = count * rows * cols
    px = np.frombuffer(raw, dtype=np.uint8, count=npx, offset=20).reshape(count, 1, rows, cols)
    labels = np.frombuffer(raw, dtype=np.uint8, count=count, offset=20 + npx).astype(np.int64)
    return px.astype(np.float32) / np.float32(255.0), labels


def train_mnist(model, x, y, epochs, seed):
    """Adam, cross-entropy, mini-batches of 64, each digit shifted by up to one pixel."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * ((len(x) + 63) // 64))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            xb = F.pad(xt[idx], (1, 1, 1, 1))
            dy, dx = torch.randint(0, 3, (2,), generator=g).tolist()
            xb = xb[:, :, dy:dy + 28, dx:dx + 28]
            loss = F.cross_entropy(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def randomize(model, rng, gain=1.0):
    """Seeded random weights: He-normal convolutions and linear layers (times `gain`), small
    random biases, non-trivial BatchNorm parameters and running statistics."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                w = rng.standard_normal(m.weight.shape) * gain * np.sqrt(2.0 / fan_in)
                m.weight.copy_(torch.from_numpy(w))
                if m.bias is not None:
                    m.bias.copy_(torch.from_numpy(0.05 * rng.standard_normal(m.bias.shape)))
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.from_numpy(1.0 + 0.2 * rng.standard_normal(c)))
                m.bias.copy_(torch.from_numpy(0.1 * rng.standard_normal(c)))
                m.running_mean.copy_(torch.from_numpy(0.1 * rng.standard_normal(c)))
                m.running_var.copy_(torch.from_numpy(rng.uniform(0.8, 1.5, c)))
    return model.eval()


def max_activation(model, x):
    worst = [0.0]

    def hook(_m, _i, out):
        worst[0] = max(worst[0], float(out.abs().max()))

    hs = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        y = model(x)
    for h in hs:
        h.remove()
    return max(worst[0], float(y.abs().max()))


def export(model, path, x):
    torch.onnx.export(model, (torch.from_numpy(x),), path, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      opset_version=13, dynamo=False)
    onnx.checker.check_model(onnx.load(path), full_check=True)


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


expected = {}


def record(name, model, x, extra):
    """Exports `name`, checks onnxruntime against PyTorch, saves the input, records the rest."""
    path = os.path.join(HERE, f"{name}.onnx")
    export(model, path, x)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    s = sess.run(None, {"input": x})[0]
    with torch.no_grad():
        t = model(torch.from_numpy(x)).numpy()
    diff = float(np.abs(s - t).max())
    assert np.allclose(s, t, atol=1e-5, rtol=1e-5), (name, diff)
    assert sess.run(None, {"input": x[:1]})[0].shape == (1, s.shape[1])
    act = max_activation(model, torch.from_numpy(x))
    graph = onnx.load(path).graph
    ops = [n.op_type for n in graph.node]
    params = sum(p.numel() for p in model.parameters())
    # What the file holds: BatchNorm folded into the convolutions by the exporter.
    in_file = sum(int(np.prod(t.dims)) for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    print(f"{name}: {params} parameters ({in_file} in the file), {len(ops)} nodes {sorted(set(ops))}, "
          f"max |activation| {act:.2f}, |ort - torch| {diff:.2e}, {os.path.getsize(path)} B")
    np.save(os.path.join(HERE, f"input_{name}.npy"), x)
    expected[name] = {"file": f"{name}.onnx", "sha256": sha256(path), "bytes": os.path.getsize(path),
                      "parameters": params, "parameters_in_file": in_file, "input_shape": list(x.shape),
                      "scores": s.flatten().tolist(),
                      "labels": s.argmax(1).tolist(), "op_types": ops,
                      "max_abs_activation": act, "ort_vs_torch": diff, **extra}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imagenet", metavar="DIR", help="also write resnet50.onnx and vgg16.onnx here")
    ap.add_argument("--only-imagenet", action="store_true", help="write only the ImageNet shapes")
    args = ap.parse_args()
    rng = np.random.default_rng(SEED)

    if not args.only_imagenet:
        x, y = load_mnist()
        xtr, ytr, xte, yte = x[:8000], y[:8000], x[8000:], y[8000:]
        for i, (name, cls, epochs) in enumerate([("minionn_mnist", MiniOnnMnist, 8),
                                                 ("lenet5", LeNet5, 8)]):
            torch.manual_seed(SEED + i)
            model = train_mnist(cls(), xtr, ytr, epochs, SEED + i)
            acc = accuracy(model, xte, yte)
            record(name, model, xte[:3].copy(),
                   {"weights": f"trained on MNIST-10k records 0..7999, {epochs} epochs",
                    "test_accuracy": acc, "test_digits": 2000})
        for i, (name, cls, gain) in enumerate([("minionn_cifar", MiniOnnCifar, 1.0),
                                               ("resnet20", ResNet20, 0.7)]):
            torch.manual_seed(SEED + 10 + i)
            model = randomize(cls(), rng, gain)
            xin = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
            act = max_activation(model, torch.from_numpy(xin))
            assert act < 100, (name, act)
            record(name, model, xin, {"weights": f"seeded random (numpy PCG64 seed {SEED}), not trained"})
        with open(os.path.join(HERE, "zoo_expected.json"), "w") as fh:
            json.dump({"description": "inputs and onnxruntime outputs of the zoo; see make_zoo.py",
                       "python": platform.python_version(), "torch": torch.__version__,
                       "numpy": np.__version__, "onnx": onnx.__version__,
                       "onnxruntime": ort.__version__, "opset": 13, "models": expected}, fh, indent=0)

    if args.imagenet:
        os.makedirs(args.imagenet, exist_ok=True)
        for name, cls in [("resnet50", ResNet50), ("vgg16", Vgg16)]:
            torch.manual_seed(SEED)
            model = cls().eval()
            path = os.path.join(args.imagenet, f"{name}.onnx")
            x = np.zeros((1, 3, 224, 224), dtype=np.float32)
            torch.onnx.export(model, (torch.from_numpy(x),), path, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                              opset_version=13, dynamo=False)
            params = sum(p.numel() for p in model.parameters())
            print(f"{name}: {params} parameters, {os.path.getsize(path)} B -> {path}")
    print("ok")


if __name__ == "__main__":
    main()
