#!/usr/bin/env python3
# The PyTorch CPU side of `ratatouille bench eval`: DomainBed's MNIST_CNN (conv3x3 -> ReLU ->
# GroupNorm(8) x4, average pool, linear head) loaded with the benchmark's own weights, timed on
# the same batch and thread count. Driven over stdin/stdout by src/bench/eval.ts so the two
# measurements alternate:
#   argv: <dir>   dir/manifest.json (width, classes, threads, batch, params[name, shape, offset],
#                 x_offset) and dir/tensors.bin (little-endian float32)
#   stdout: {"ready": ...} once loaded and warmed up; it writes dir/torch_logits.bin (logits of x)
#   stdin:  "run K" -> {"seconds": [K per-batch times]};  "quit" -> exits
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn


class MnistCnn(nn.Module):
    """DomainBed networks.MNIST_CNN + Linear classifier, with ERM's state_dict keys."""

    def __init__(self, in_channels, width, classes):
        super().__init__()
        f = nn.Module()
        w = [width, 2 * width, 2 * width, 2 * width]
        f.conv1 = nn.Conv2d(in_channels, w[0], 3, 1, padding=1)
        f.conv2 = nn.Conv2d(w[0], w[1], 3, stride=2, padding=1)
        f.conv3 = nn.Conv2d(w[1], w[2], 3, 1, padding=1)
        f.conv4 = nn.Conv2d(w[2], w[3], 3, 1, padding=1)
        for i in range(4):
            setattr(f, f'bn{i}', nn.GroupNorm(8, w[i]))
        f.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.featurizer = f
        self.classifier = nn.Linear(w[3], classes)

    def forward(self, x):
        f = self.featurizer
        for i in range(4):
            x = getattr(f, f'bn{i}')(torch.relu(getattr(f, f'conv{i + 1}')(x)))
        return self.classifier(f.avgpool(x).flatten(1))


def main():
    d = sys.argv[1]
    with open(os.path.join(d, 'manifest.json')) as fh:
        m = json.load(fh)
    torch.set_num_threads(m['threads'])
    torch.set_num_interop_threads(1)
    blob = np.fromfile(os.path.join(d, 'tensors.bin'), dtype='<f4')
    take = lambda off, shape: torch.from_numpy(blob[off:off + int(np.prod(shape))].reshape(shape).copy())
    c, h, w = m['input_shape']
    net = MnistCnn(c, m['width'], m['classes']).eval()
    net.load_state_dict({p['name']: take(p['offset'], p['shape']) for p in m['params']}, strict=True)
    x = take(m['x_offset'], [m['batch'], c, h, w])
    with torch.inference_mode():
        net(x).numpy().astype('<f4').tofile(os.path.join(d, 'torch_logits.bin'))
        for _ in range(m['warmup']):
            net(x)
        print(json.dumps({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads()}), flush=True)
        for line in sys.stdin:
            cmd = line.split()
            if not cmd or cmd[0] == 'quit':
                break
            secs = []
            for _ in range(int(cmd[1])):
                t = time.perf_counter()
                net(x)
                secs.append(time.perf_counter() - t)
            print(json.dumps({'seconds': secs}), flush=True)


if __name__ == '__main__':
    main()
