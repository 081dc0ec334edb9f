#!/usr/bin/python3
# Generates test/fixtures/eval/holdout.json: the MNIST train/test holdout as numpy computes it
# (np.random.RandomState(seed).permutation(n); first test_size indices are test, both sorted).
# Small cases are stored whole, the 10,000-digit ones as sha256 of the int32 index arrays.
# Run with /usr/bin/python3 (numpy).
import hashlib
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'eval')


def sha256_i32(a):
    return hashlib.sha256(np.asarray(a).astype('<i4').tobytes()).hexdigest()


def split(n, test_size, seed):
    perm = np.random.RandomState(seed).permutation(n)
    return np.sort(perm[:test_size]), np.sort(perm[test_size:])


def main():
    small = []
    for n, t, s in [(10, 3, 0), (17, 5, 1), (100, 20, 12345), (1, 1, 0), (5, 0, 3)]:
        test, train = split(n, t, s)
        small.append({'n': n, 'testSize': t, 'seed': s, 'test': test.tolist(), 'train': train.tolist()})
    large = []
    for s in [0, 1, 2, 4294967295]:
        test, train = split(10000, 2000, s)
        large.append({'n': 10000, 'testSize': 2000, 'seed': s, 'testSha256': sha256_i32(test), 'trainSha256': sha256_i32(train),
                      'testHead': test[:5].tolist()})
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, 'holdout.json'), 'w') as f:
        json.dump({'small': small, 'large': large}, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
