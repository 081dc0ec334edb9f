#!/usr/bin/python3
"""Reference trajectories of torch.optim.SGD / Adam / AdamW (torch 1.13 CPU, single-tensor path)
for test/optim/parity.test.ts.

Run: /usr/bin/python3 scripts/gen_optim_fixtures.py  (writes test/fixtures/optim/torch-trajectories.bin)

File layout (little-endian):
  8 bytes  magic b"RTOPTFX\\0"
  u32      version (1)
  u32      JSON index length N
  N bytes  UTF-8 JSON index, space-padded so the float data starts 4-byte aligned
  f32[]    data; the index gives offsets in floats from the start of the data
Index: shapes, steps, params0 (initial values, tensors concatenated in order), grads (steps x all
tensors, step-major), and per config: optimizer, groups (tensor indices + hyperparameters in the
TS names), trajectory (params after every step, same layout as grads).
"""
import json
import os
import struct
import sys

import numpy as np
import torch

MAGIC = b"RTOPTFX\0"
VERSION = 1
STEPS = 60
SHAPES = [[3, 5], [17], [4, 3, 3], [1]]
GRAD_SCALES = [1.0, 0.1, 3.0, 0.5]  # tensors see gradients of different magnitudes
ZERO_GRAD_STEP = (10, 1)  # (step, tensor) whose gradient is exactly zero

SGD = dict(momentum=0.0, dampening=0.0, weightDecay=0.0, nesterov=False, maximize=False)
ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weightDecay=0.0, decoupled=False, maximize=False)
ALL = [0, 1, 2, 3]

CONFIGS = [
    ("sgd_plain", "sgd", [(ALL, dict(SGD, lr=0.1))]),
    ("sgd_momentum", "sgd", [(ALL, dict(SGD, lr=0.05, momentum=0.9))]),
    ("sgd_nesterov", "sgd", [(ALL, dict(SGD, lr=0.05, momentum=0.9, nesterov=True))]),
    ("sgd_dampening", "sgd", [(ALL, dict(SGD, lr=0.05, momentum=0.9, dampening=0.5))]),
    ("sgd_weight_decay", "sgd", [(ALL, dict(SGD, lr=0.1, weightDecay=0.05))]),
    ("sgd_maximize", "sgd", [(ALL, dict(SGD, lr=0.05, momentum=0.8, weightDecay=0.01, maximize=True))]),
    ("sgd_groups", "sgd", [([0, 2], dict(SGD, lr=0.1, momentum=0.9, nesterov=True, weightDecay=1e-3)),
                           ([1, 3], dict(SGD, lr=0.02, momentum=0.5, dampening=0.1))]),
    ("adam_default", "adam", [(ALL, dict(ADAM))]),
    ("adam_weight_decay", "adam", [(ALL, dict(ADAM, lr=1e-2, weightDecay=0.1))]),
    ("adamw", "adam", [(ALL, dict(ADAM, lr=1e-2, weightDecay=0.1, decoupled=True))]),
    ("adam_maximize", "adam", [(ALL, dict(ADAM, lr=1e-2, weightDecay=0.01, maximize=True))]),
    ("adam_betas_eps", "adam", [(ALL, dict(ADAM, lr=5e-3, beta1=0.8, beta2=0.95, eps=1e-6))]),
    ("adamw_maximize_betas", "adam", [(ALL, dict(ADAM, lr=3e-3, beta1=0.85, beta2=0.99, weightDecay=0.05,
                                                 decoupled=True, maximize=True))]),
    ("adam_groups", "adam", [([0, 1], dict(ADAM, lr=1e-2)),
                             ([2, 3], dict(ADAM, lr=3e-3, weightDecay=0.02, eps=1e-7))]),
]


def torch_optimizer(kind, groups, tensors):
    if kind == "sgd":
        pg = [dict(params=[tensors[i] for i in idx], lr=h["lr"], momentum=h["momentum"], dampening=h["dampening"],
                   weight_decay=h["weightDecay"], nesterov=h["nesterov"], maximize=h["maximize"])
              for idx, h in groups]
        return torch.optim.SGD(pg, lr=groups[0][1]["lr"], foreach=False)
    decoupled = {h["decoupled"] for _, h in groups}
    assert len(decoupled) == 1, "torch cannot mix Adam and AdamW groups"
    pg = [dict(params=[tensors[i] for i in idx], lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
               weight_decay=h["weightDecay"], maximize=h["maximize"])
          for idx, h in groups]
    cls = torch.optim.AdamW if decoupled.pop() else torch.optim.Adam
    return cls(pg, foreach=False)


def main():
    torch.manual_seed(20230612)
    params0 = [torch.randn(s, dtype=torch.float32) for s in SHAPES]
    grads = [[torch.randn(s, dtype=torch.float32) * scale for s, scale in zip(SHAPES, GRAD_SCALES)]
             for _ in range(STEPS)]
    grads[ZERO_GRAD_STEP[0]][ZERO_GRAD_STEP[1]].zero_()

    chunks = []
    offset = 0

    def add(arrays):
        nonlocal offset
        flat = np.concatenate([a.detach().numpy().reshape(-1) for a in arrays]).astype("<f4")
        at = offset
        chunks.append(flat)
        offset += flat.size
        return at

    index = dict(torch=torch.__version__, steps=STEPS, shapes=SHAPES, params0=add(params0),
                 grads=add([g for step in grads for g in step]), configs=[])
    for name, kind, groups in CONFIGS:
        tensors = [p.clone().requires_grad_(True) for p in params0]
        opt = torch_optimizer(kind, groups, tensors)
        traj = []
        for step in range(STEPS):
            for t, g in zip(tensors, grads[step]):
                t.grad = g.clone()
            opt.step()
            traj.extend(t.detach().clone() for t in tensors)
        index["configs"].append(dict(name=name, optimizer=kind, trajectory=add(traj),
                                     groups=[dict(tensors=idx, hparams=h) for idx, h in groups]))

    text = json.dumps(index, separators=(",", ":")).encode()
    text += b" " * (-(len(MAGIC) + 8 + len(text)) % 4)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "optim",
                       "torch-trajectories.bin")
    with open(out + ".tmp", "wb") as f:
        f.write(MAGIC + struct.pack("<II", VERSION, len(text)) + text)
        for c in chunks:
            f.write(c.tobytes())
    os.replace(out + ".tmp", out)
    print(f"{os.path.normpath(out)}: {len(CONFIGS)} configs, {offset} floats, {os.path.getsize(out)} bytes",
          file=sys.stderr)


if __name__ == "__main__":
    main()
