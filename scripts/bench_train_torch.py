#!/usr/bin/python3
"""PyTorch CPU side of `ratatouille bench train`: the same network, batch, threads and Adam step.

Builds DomainBed's MNIST_CNN (or torchvision's ResNet-18 with frozen BatchNorm, as DomainBed)
plus a linear classifier, exactly as src/graph/models does, then serves timing requests on stdin
so the Node benchmark can alternate rounds between ORT and torch (both see the same drift):
  a line "run K"  -> K timed steps; prints one JSON line {"fb": [ms...], "opt": [ms...], "cpu": [ms...], "loss": x}
                    ("cpu": the process's CPU time per whole step, all threads, OpenMP spin-waits included)
  a line "quit"   -> prints {"peakRssBytes": n, "torch": version, "threads": t} and exits
Each step is zero_grad(set_to_none) + forward + cross-entropy + backward ("fb"), then Adam ("opt").
Run: /usr/bin/python3 scripts/bench_train_torch.py --model mnist_cnn --width 64 --batch 64 --threads 2
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_graph_fixtures import MNIST_CNN, BasicBlock, ResNet  # noqa: E402  (same modules as the fixtures)


def build(args):
    c, h, w = args.input
    if args.model == 'mnist_cnn':
        feat, dim = MNIST_CNN(c, args.width), 2 * args.width
    else:
        feat, dim = ResNet(BasicBlock, [2, 2, 2, 2], args.width, c), 8 * args.width
    net = nn.Sequential(feat, nn.Linear(dim, args.classes))
    net.train()
    if args.model == 'resnet18':  # DomainBed freezes BatchNorm: eval-mode statistics, trainable affine
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
    return net


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', choices=['mnist_cnn', 'resnet18'], default='mnist_cnn')
    p.add_argument('--width', type=int, default=64)
    p.add_argument('--input', type=int, nargs=3, default=[1, 28, 28])
    p.add_argument('--classes', type=int, default=10)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)  # Debian's build defaults to 1 thread
    torch.manual_seed(0)
    net = build(args)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(args.batch, *args.input)
    y = torch.arange(args.batch) % args.classes
    print(json.dumps({'ready': True, 'params': sum(q.numel() for q in net.parameters())}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == 'quit':
            break
        fb, up, cpu, loss = [], [], [], 0.0
        for _ in range(int(cmd[1])):
            c0 = time.process_time()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss_t = F.cross_entropy(net(x), y)
            loss_t.backward()
            t1 = time.perf_counter()
            opt.step()
            t2 = time.perf_counter()
            fb.append((t1 - t0) * 1e3)
            up.append((t2 - t1) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
            loss = loss_t.item()
        print(json.dumps({'fb': fb, 'opt': up, 'cpu': cpu, 'loss': loss}), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(json.dumps({'peakRssBytes': rss, 'torch': torch.__version__, 'threads': torch.get_num_threads()}), flush=True)


if __name__ == '__main__':
    main()
