#!/usr/bin/python3
"""Parity of the conv head (train/vt_convnet.h) with PyTorch 1.13.

build/tools/convnet_parity builds a head from a seed on the maps of a store
(float16, as vggtap-extract stores them), takes one AdamW step on a batch
and writes the initial weights, the dropout mask, the loss, the gradient,
the stepped weights (running statistics included) and the stepped net's
evaluation-mode logits on every row. Here the same architecture is built
from torch.nn layers, loaded with the initial weights, and must give:

  - the loss of the training-mode forward (batch statistics), 1e-5 relative;
  - the gradient of every parameter, 1e-4 of the tensor's largest entry;
  - after torch.optim.AdamW's step (lr 1e-3, weight decay 1e-2 on every
    parameter), the same weights within 1e-5 and the same running
    statistics within 1e-5;
  - the same evaluation-mode logits, within 1e-4.

On Adam's first step every weight moves by lr * g / (|g| + eps), about
lr * sign(g): a gradient within float rounding of 0 may take either sign.
Such entries (|g| below 1e-4 of the tensor's largest, where the gradients
themselves are checked) may step otherwise; they are counted and listed,
and must be few. A conv bias before batch norm has a zero gradient: it is
checked to be zero on both sides.

A max pool's gradient goes to the largest value of each window, so where
two values of a window are within rounding of each other (the fixtures'
recipe case has windows whose top two differ by 4e-7 of the layer's
largest value), paths that round differently (fused multiply-adds or not)
pick different pixels and the gradient of that conv's output channel
moves by ~1e-2: both are right. Such near-ties are found in a float64
forward pass (top two within 1e-5 of the pool input's largest value:
the Winograd conv's outputs on the portable and AVX-512 paths differ by
up to 4.5e-6 of their largest deviation from the channel mean, measured
on random 28x28x128 maps); their channels' kernel slices and batch-norm
entries are left out of the gradient and AdamW checks, counted and
printed, and must be a minority (at most one conv output channel in 4).
The inputs and initial weights are seeded, so which channels these are
is the same on every CPU.

Cases: the default recipe on 56x56 maps with the input pool (the shape of
block2_pool), the lighter head (1x1 conv to 32, then a 3x3 conv), conv
biases with 3 convs and 2 threads, no dropout."""
import copy
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

ROOT = os.environ.get("VGGTAP_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BUILD = os.path.join(ROOT, os.environ.get("TEST_BUILD", "build"))
PARITY = os.path.join(BUILD, "tools", "convnet_parity")
FIXTURE = os.path.join(ROOT, "tests", "tools", "make_store_fixture.py")
TAP = "block2_pool"

failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


class Head(torch.nn.Module):
    """The conv head of a parity file's group, in torch.nn layers."""

    def __init__(self, g):
        super().__init__()
        a = g.attrs
        self.convs = []
        layers = [torch.nn.AvgPool2d(2)] if a["in_pool"] else []
        specs = a["convs"].split(",")
        cin = int(a["in_channels"])
        for l, spec in enumerate(specs):
            k, width = (1, int(spec[4:])) if spec.startswith("1x1:") else (3, int(spec))
            conv = torch.nn.Conv2d(cin, width, k, padding=k // 2, bias=bool(a["conv_bias"]))
            bn = torch.nn.BatchNorm2d(width, eps=float(a["bn_eps"]), momentum=float(a["bn_momentum"]))
            layers += [conv, bn, torch.nn.ReLU()]
            if l + 1 < len(specs):
                layers.append(torch.nn.MaxPool2d(2))
            self.convs.append((conv, bn))
            cin = width
        layers.append(torch.nn.AdaptiveMaxPool2d(int(a["grid"])))
        self.features = torch.nn.Sequential(*layers)
        self.fc = torch.nn.Linear(cin * int(a["grid"]) ** 2, int(a["classes"]))

    def load(self, g):
        """Weights from a group: kernels HWIO -> OIHW, dense [in][out] -> [out][in]."""
        with torch.no_grad():
            for l, (conv, bn) in enumerate(self.convs):
                conv.weight.copy_(torch.from_numpy(g[f"conv/{l}/kernel"][()].transpose(3, 2, 0, 1).copy()))
                if conv.bias is not None:
                    conv.bias.copy_(torch.from_numpy(g[f"conv/{l}/bias"][()]))
                bn.weight.copy_(torch.from_numpy(g[f"conv/{l}/bn_gamma"][()]))
                bn.bias.copy_(torch.from_numpy(g[f"conv/{l}/bn_beta"][()]))
                bn.running_mean.copy_(torch.from_numpy(g[f"conv/{l}/bn_running_mean"][()]))
                bn.running_var.copy_(torch.from_numpy(g[f"conv/{l}/bn_running_var"][()]))
            self.fc.weight.copy_(torch.from_numpy(g["dense/kernel"][()].T.copy()))
            self.fc.bias.copy_(torch.from_numpy(g["dense/bias"][()]))

    def named(self):
        """(name in the file, parameter, to-file layout) for every parameter."""
        out = []
        for l, (conv, bn) in enumerate(self.convs):
            out.append((f"conv/{l}/kernel", conv.weight, lambda t: t.permute(2, 3, 1, 0)))
            if conv.bias is not None:
                out.append((f"conv/{l}/bias", conv.bias, lambda t: t))
            out.append((f"conv/{l}/bn_gamma", bn.weight, lambda t: t))
            out.append((f"conv/{l}/bn_beta", bn.bias, lambda t: t))
        out.append(("dense/kernel", self.fc.weight, lambda t: t.t()))
        out.append(("dense/bias", self.fc.bias, lambda t: t))
        return out

    def forward(self, x_nhwc, mask=None):
        f = self.features(x_nhwc.permute(0, 3, 1, 2))
        f = f.permute(0, 2, 3, 1).reshape(f.shape[0], -1)  # [gy][gx][c], as the C head
        if mask is not None:
            f = f * mask
        return self.fc(f)


TIE = 1e-5


def pool_ties(head, x):
    """{conv index: channels} of the max-pool windows (2x2 after a conv,
    the adaptive grid after the last) whose two largest values differ by
    less than TIE of the pool input's largest, in a float64 forward pass
    of the training-mode net on the batch x."""
    ties, conv = {}, -1
    z = x.permute(0, 3, 1, 2).double()
    with torch.no_grad():
        for layer in head.features:
            layer64 = copy.deepcopy(layer).double()
            if isinstance(layer, torch.nn.Conv2d):
                conv += 1
            if isinstance(layer, (torch.nn.MaxPool2d, torch.nn.AdaptiveMaxPool2d)):
                h, w = z.shape[2], z.shape[3]
                if isinstance(layer, torch.nn.MaxPool2d):
                    rows = [(i, i + 2) for i in range(0, h - 1, 2)]
                    cols = [(j, j + 2) for j in range(0, w - 1, 2)]
                else:  # PyTorch's adaptive windows: floor(i*h/g) .. ceil((i+1)*h/g)
                    g = layer.output_size
                    rows = [(i * h // g, -(-(i + 1) * h // g)) for i in range(g)]
                    cols = [(j * w // g, -(-(j + 1) * w // g)) for j in range(g)]
                limit = TIE * float(z.abs().max())
                for y0, y1 in rows:
                    for x0, x1 in cols:
                        win = z[:, :, y0:y1, x0:x1].reshape(z.shape[0], z.shape[1], -1)
                        top = torch.topk(win, 2, dim=-1).values
                        near = (top[..., 0] > 0) & (top[..., 0] - top[..., 1] < limit)
                        ties.setdefault(conv, set()).update(torch.nonzero(near)[:, 1].tolist())
            z = layer64(z)
    return ties


def tied_entries(key, shape, ties):
    """Flat indices of a parameter's entries that a near-tie leaves out."""
    parts = key.split("/")
    if parts[0] != "conv" or int(parts[1]) not in ties or not ties[int(parts[1])]:
        return np.array([], dtype=np.int64)
    mask = np.zeros(shape, dtype=bool)
    mask[..., sorted(ties[int(parts[1])])] = True  # the last axis is the output channel
    return np.flatnonzero(mask)


def rel(a, b, skip=()):
    """max |a - b| over the entries not in skip (flat indices), over max |b|."""
    d = np.abs(a - b).ravel()
    d[skip] = 0
    return float(np.max(d) / max(np.max(np.abs(b)), 1e-12))


def case(tmp, name, fixture, args):
    store = os.path.join(tmp, name + ".h5")
    out = os.path.join(tmp, name + "-parity.h5")
    subprocess.run([sys.executable, FIXTURE, store, "--tap", TAP, "--maps", "--dtype", "float16",
                    *fixture], check=True)
    r = subprocess.run([PARITY, store, TAP, out, *args], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        check(False, name + ": convnet_parity ran")
        return
    print("%s: %s" % (name, r.stdout.strip()))
    with h5py.File(store, "r") as s:
        x = torch.from_numpy(s["features/" + TAP][()].astype(np.float32))
        y = torch.from_numpy(s["images/label"][()].astype(np.int64))
    with h5py.File(out, "r") as f:
        mask = torch.from_numpy(f["mask"][()])
        batch = mask.shape[0]
        head = Head(f["init"])
        head.load(f["init"])
        head.train()
        ties = pool_ties(head, x[:batch])
        n_ties = sum(len(c) for c in ties.values())
        logits = head(x[:batch], mask)
        loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(logits, y[:batch])
        check(abs(loss.item() - f["loss"][0, 0]) < 1e-5 * abs(loss.item()),
              "%s: training loss %.7f, torch %.7f" % (name, f["loss"][0, 0], loss.item()))
        loss.backward()
        # A conv bias before batch norm has no effect on the output (the
        # normalisation subtracts it again): its gradient is 0 up to
        # rounding on both sides, checked as such, and its first Adam step,
        # lr * noise / (|noise| + eps), is noise on both sides: left out.
        worst, tiny, inert = 0.0, [], 0.0
        for key, p, to_file in head.named():
            g_t = to_file(p.grad).detach().numpy()
            g_c = f["grad/" + key][()]
            if key.startswith("conv/") and key.endswith("/bias"):
                scale = float(np.max(np.abs(f["grad/" + key[:-4] + "kernel"][()])))
                inert = max(inert, float(np.max(np.abs(g_c))) / scale, float(np.max(np.abs(g_t))) / scale)
                continue
            tiny += [(key, i) for i in np.flatnonzero(np.abs(g_t.ravel()) < 1e-4 * np.max(np.abs(g_t)))]
            worst = max(worst, rel(g_c, g_t, tied_entries(key, g_c.shape, ties)))
        few = max(2, sum(c.out_channels for c, _ in head.convs) // 4)
        check(worst < 1e-4 and n_ties <= few,
              "%s: gradients within %.2e of each tensor's largest entry (%d channels left out for "
              "near-ties in max pools: %s)" % (name, worst, n_ties, {l: sorted(c) for l, c in ties.items() if c}))
        if head.convs[0][0].bias is not None:
            check(inert < 1e-5, "%s: conv bias gradients (before batch norm) %.2e of the kernel's: 0"
                  % (name, inert))
        opt = torch.optim.AdamW(head.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)
        opt.step()
        worst, flipped = 0.0, []
        for key, p, to_file in head.named():
            if key.startswith("conv/") and key.endswith("/bias"):
                continue
            w_t = to_file(p).detach().numpy().ravel()
            w_c = f["step/" + key][()].ravel()
            d = np.abs(w_c - w_t)
            d[tied_entries(key, f["step/" + key].shape, ties)] = 0
            for i in np.flatnonzero(d > 1e-5):
                flipped.append((key, int(i)))
            d[[i for k, i in flipped if k == key]] = 0
            worst = max(worst, float(np.max(d)))
        n_params = sum(p.numel() for p in head.parameters())
        sign_ok = all(fl in tiny for fl in flipped) and len(tiny) <= max(3, n_params // 1000)
        check(worst < 1e-5 and sign_ok,
              "%s: weights after one AdamW step within %.2e (%d entries have |grad| < 1e-4 max, %d of them "
              "stepped otherwise%s)" % (name, worst, len(tiny), len(flipped),
                                        ": " + str(flipped) if flipped else ""))
        worst = 0.0
        for l, (conv, bn) in enumerate(head.convs):
            worst = max(worst, float(np.max(np.abs(f[f"step/conv/{l}/bn_running_mean"][()] - bn.running_mean.numpy()))))
            worst = max(worst, float(np.max(np.abs(f[f"step/conv/{l}/bn_running_var"][()] - bn.running_var.numpy()))))
        check(worst < 1e-5, "%s: running statistics within %.2e" % (name, worst))
        # the evaluation-mode logits of the C-stepped weights
        head.load(f["step"])
        head.eval()
        with torch.no_grad():
            ref = head(x).numpy()
        got = f["logits"][()]
        d = float(np.max(np.abs(got - ref)))
        check(d < 1e-4, "%s: evaluation logits within %.2e (largest |logit| %.2f)"
              % (name, d, float(np.max(np.abs(ref)))))


def main():
    torch.set_num_threads(1)
    if not os.path.exists(PARITY):
        print("build/tools/convnet_parity is missing: run make")
        return 1
    tmp = tempfile.mkdtemp(prefix="vt_convnet_torch_")
    case(tmp, "recipe 56x56x128 pool", ["--rows", "40", "--classes", "10", "--map", "56,56,128", "--noise", "1"],
         ["--batch", "32", "--seed", "3"])
    case(tmp, "lighter 1x1:32,64", ["--rows", "24", "--classes", "4", "--map", "28,28,64"],
         ["--convs", "1x1:32,64", "--batch", "24", "--seed", "4"])
    case(tmp, "bias 3 convs 2 threads", ["--rows", "20", "--classes", "3", "--map", "20,20,16"],
         ["--convs", "16,8,8", "--bias", "--grid", "3", "--batch", "19", "--threads", "2", "--seed", "5"])
    case(tmp, "no dropout", ["--rows", "12", "--classes", "3", "--map", "12,12,8"],
         ["--convs", "8,8", "--dropout", "0", "--batch", "12", "--seed", "6"])
    subprocess.run(["rm", "-rf", tmp])
    print("%d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
