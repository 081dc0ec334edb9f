// The dataset cache: miss then hit, rebuild on a changed data seed or source bytes, a corrupt
// cache file is rebuilt, and a failing build caches nothing.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import type { TensorDataset } from '../../src/data/dataset.js';
import { readIdxFile } from '../../src/data/idx.js';
import { openDataset } from '../../src/data/registry.js';

const root = mkdtempSync(join(tmpdir(), 'rt-cache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const FASHION = '/usr/share/datasets/fashion-mnist';

function idxBytes(magic: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, data]);
}

/** A small Fashion-MNIST folder: the first `nTrain`/`nTest` real images (plain IDX). */
function smallFashion(name: string, nTrain: number, nTest: number): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [stem, n] of [['train', nTrain], ['t10k', nTest]] as const) {
    const im = readIdxFile(join(FASHION, `${stem}-images-idx3-ubyte.gz`), 'images');
    const lb = readIdxFile(join(FASHION, `${stem}-labels-idx1-ubyte.gz`), 'labels');
    writeFileSync(join(dir, `${stem}-images-idx3-ubyte`), idxBytes(0x803, [n, 28, 28], im.data.subarray(0, n * 784)));
    writeFileSync(join(dir, `${stem}-labels-idx1-ubyte`), idxBytes(0x801, [n], lb.data.subarray(0, n)));
  }
  return dir;
}

const cacheFiles = (dir: string) => {
  try {
    return readdirSync(join(dir, 'datasets'));
  } catch {
    return [];
  }
};

describe('dataset cache', () => {
  const data = smallFashion('fashion-a', 60, 12);

  it('misses, then hits with identical content; a new data seed is a new entry', async () => {
    const dir = join(root, 'c1');
    const a = (await openDataset('rotated_fashion_mnist', { dataDir: data, cacheDir: dir })) as TensorDataset;
    expect(a.cache?.hit).toBe(false);
    expect(a.domains.map((_, d) => a.offsets[d + 1] - a.offsets[d])).toEqual([12, 12, 12, 12, 12, 12]);
    const b = (await openDataset('rotated_fashion_mnist', { dataDir: data, cacheDir: dir })) as TensorDataset;
    expect(b.cache).toEqual({ path: a.cache!.path, hit: true });
    expect(Buffer.from(b.images).equals(Buffer.from(a.images))).toBe(true);
    expect(Array.from(b.labels)).toEqual(Array.from(a.labels));
    expect(Array.from(b.offsets)).toEqual(Array.from(a.offsets));
    expect(b.domains).toEqual(a.domains);
    const c = (await openDataset('rotated_fashion_mnist', { dataDir: data, cacheDir: dir, dataSeed: 3 })) as TensorDataset;
    expect(c.cache?.hit).toBe(false);
    expect(c.cache?.path).not.toBe(a.cache?.path);
    expect(Array.from(c.labels)).not.toEqual(Array.from(a.labels));
    expect(cacheFiles(dir)).toHaveLength(2);
  });

  it('rebuilds when the source bytes change', async () => {
    const dir = join(root, 'c2');
    const a = (await openDataset('fashion_mnist', { dataDir: data, cacheDir: dir })) as TensorDataset;
    const other = smallFashion('fashion-b', 61, 12);
    const b = (await openDataset('fashion_mnist', { dataDir: other, cacheDir: dir })) as TensorDataset;
    expect(b.cache?.hit).toBe(false);
    expect(b.source.hash).not.toBe(a.source.hash);
    expect(b.offsets[1]).toBe(61);
  });

  it('rebuilds over a corrupt cache file', async () => {
    const dir = join(root, 'c3');
    const a = (await openDataset('fashion_mnist', { dataDir: data, cacheDir: dir })) as TensorDataset;
    writeFileSync(a.cache!.path, Buffer.from('RTDS garbage'));
    const b = (await openDataset('fashion_mnist', { dataDir: data, cacheDir: dir })) as TensorDataset;
    expect(b.cache?.hit).toBe(false);
    const c = (await openDataset('fashion_mnist', { dataDir: data, cacheDir: dir })) as TensorDataset;
    expect(c.cache?.hit).toBe(true);
    expect(Array.from(c.labels)).toEqual(Array.from(a.labels));
  });

  it('caches nothing when the build fails', async () => {
    const bad = smallFashion('fashion-bad', 60, 12);
    const f = join(bad, 'train-images-idx3-ubyte');
    const im = readIdxFile(f, 'images');
    writeFileSync(f, idxBytes(0x803, [60, 28, 28], im.data.subarray(0, 59 * 784))); // truncated
    const dir = join(root, 'c4');
    await expect(openDataset('rotated_fashion_mnist', { dataDir: bad, cacheDir: dir })).rejects.toThrowError(InputError);
    await expect(openDataset('rotated_fashion_mnist', { dataDir: bad, cacheDir: dir })).rejects.toThrowError(/train-images-idx3-ubyte: truncated IDX data/);
    expect(cacheFiles(dir)).toEqual([]);
  });

  it('says how to get Fashion-MNIST when it is missing', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await expect(openDataset('fashion_mnist', { dataDir: empty, cacheDir: null })).rejects.toThrowError(
      /apt-get install dataset-fashion-mnist.*--data-dir/,
    );
  });
});
