// The DomainBed protocol: splits against numpy, split sizes and determinism per trial seed,
// the with-replacement sampler (composition, determinism, prefetch buffers), batched
// evaluation and the selection/aggregation helpers.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainSize, type TensorDataset } from '../../src/data/dataset.js';
import { createLoader, type Batch } from '../../src/data/loader.js';
import {
  countCorrect,
  evaluateDomains,
  makeSplits,
  meanAndStandardError,
  pooledValidation,
  runSeed,
  splitDomain,
  splitIndices,
  testAccuracy,
  trainingDomains,
  trainingDomainValidation,
  trainingPools,
} from '../../src/data/protocol.js';
import { openDataset } from '../../src/data/registry.js';
import { RandomState } from '../../src/util/numpy-random.js';
import { seedHash } from '../../src/util/seed.js';

const fx = JSON.parse(readFileSync(new URL('../fixtures/data/numpy-random.json', import.meta.url), 'utf8'));
const sha256I32 = (a: Int32Array) => createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const cache = mkdtempSync(join(tmpdir(), 'rt-protocol-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));
let ds: TensorDataset;
beforeAll(async () => {
  ds = (await openDataset('rotated_mnist', { cacheDir: cache })) as TensorDataset;
});

describe('splits', () => {
  it('match DomainBed split_dataset with numpy', () => {
    for (const s of fx.splits) {
      const sp = splitDomain(s.n, s.trial, s.env);
      expect(sp.out.length).toBe(s.nOut);
      expect(Array.from(sp.out.subarray(0, 10))).toEqual(s.outHead);
      expect(sha256I32(sp.out)).toBe(s.outSha256);
      expect(sha256I32(sp.in)).toBe(s.inSha256);
    }
  });

  it('are 333 out / 1334|1333 in per RotatedMNIST domain, disjoint, covering, and fixed per trial seed', () => {
    const a = makeSplits(ds, 0);
    a.forEach((s, d) => {
      const n = domainSize(ds, d);
      expect(s.out.length).toBe(333);
      expect(s.in.length).toBe(n - 333);
      const all = [...s.in, ...s.out].sort((x, y) => x - y);
      expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
    });
    const again = makeSplits(ds, 0);
    expect(again.map((s) => Array.from(s.out))).toEqual(a.map((s) => Array.from(s.out)));
    const other = makeSplits(ds, 1);
    expect(Array.from(other[0].out)).not.toEqual(Array.from(a[0].out));
    // global indices land inside their domain
    const g = splitIndices(ds, a, 4, 'out');
    expect(g.every((i) => i >= ds.offsets[4] && i < ds.offsets[5])).toBe(true);
  });
});

describe('training batches', () => {
  it('draw batchSize per training domain with replacement from the in-splits, in domain order', async () => {
    const splits = makeSplits(ds, 0);
    const train = trainingDomains(ds, [0, 5]);
    expect(train).toEqual([1, 2, 3, 4]);
    const pools = trainingPools(ds, splits, train);
    const loader = createLoader(ds);
    const stream = loader.trainStream({ domains: train, pools, batchSizePerDomain: 16, runSeed: 1234 });
    const inSets = train.map((d) => new Set(splitIndices(ds, splits, d, 'in')));
    const drawn = new Map<number, number>();
    for (let step = 0; step < 40; step++) {
      const b = (await stream.next())!;
      expect(b.shape).toEqual([64, 1, 28, 28]);
      expect(b.x.length).toBe(64 * 784);
      for (let r = 0; r < 64; r++) {
        const d = Math.floor(r / 16);
        expect(inSets[d].has(b.index[r])).toBe(true);
        expect(b.y[r]).toBe(BigInt(ds.labels[b.index[r]]));
        drawn.set(b.index[r], (drawn.get(b.index[r]) ?? 0) + 1);
      }
    }
    // 640 draws per domain from 1334 in-split indices: without replacement nothing would repeat;
    // with replacement about 640²/(2·1334) ≈ 150 draws repeat.
    const repeated = [...drawn.values()].reduce((s, c) => s + c - 1, 0);
    expect(repeated).toBeGreaterThan(50);
    await loader.close();
  });

  it('fill x with pixel/255 and follow RandomState(runSeed).randint exactly; same seed, same batches', async () => {
    const splits = makeSplits(ds, 0);
    const train = [1, 2];
    const pools = trainingPools(ds, splits, train);
    const loader = createLoader(ds);
    const s1 = loader.trainStream({ domains: train, pools, batchSizePerDomain: 8, runSeed: 7 });
    const s2 = loader.trainStream({ domains: train, pools, batchSizePerDomain: 8, runSeed: 7 });
    const s3 = loader.trainStream({ domains: train, pools, batchSizePerDomain: 8, runSeed: 8 });
    const rs = new RandomState(7);
    for (let step = 0; step < 3; step++) {
      const a = (await s1.next())!;
      const aIndex = Array.from(a.index);
      const aX = a.x.slice();
      const want = [0, 1].flatMap((d) => Array.from({ length: 8 }, () => pools[d][rs.randint(0, pools[d].length)]));
      expect(aIndex).toEqual(want);
      const i = a.index[3];
      for (let k = 0; k < 784; k++) expect(aX[3 * 784 + k]).toBe(Math.fround(ds.images[i * 784 + k] / 255));
      const b = (await s2.next())!;
      expect(Array.from(b.index)).toEqual(aIndex);
      expect(Buffer.from(b.x.buffer, b.x.byteOffset, b.x.byteLength).equals(Buffer.from(aX.buffer))).toBe(true);
      const c = (await s3.next())!;
      expect(Array.from(c.index)).not.toEqual(aIndex);
    }
  });

  it('keep a returned batch intact until the following next() (double buffer)', async () => {
    const splits = makeSplits(ds, 0);
    const loader = createLoader(ds);
    const s = loader.trainStream({ domains: [0], pools: trainingPools(ds, splits, [0]), batchSizePerDomain: 4, runSeed: 3 });
    const first = (await s.next())!;
    const copy = first.x.slice();
    await new Promise((r) => setTimeout(r, 10)); // let the prefetch of batch 2 run
    expect(first.x).toEqual(copy);
    const second = (await s.next())!;
    expect(second.x.buffer).not.toBe(first.x.buffer);
  });

  it('shift: each row is its sample translated by at most `shift` pixels with zero fill, drawn from the same indices', async () => {
    const splits = makeSplits(ds, 0);
    const pools = trainingPools(ds, splits, [0]);
    const loader = createLoader(ds);
    const plain = loader.trainStream({ domains: [0], pools, batchSizePerDomain: 32, runSeed: 5 });
    const shifted = loader.trainStream({ domains: [0], pools, batchSizePerDomain: 32, runSeed: 5, shift: 2 });
    const again = loader.trainStream({ domains: [0], pools, batchSizePerDomain: 32, runSeed: 5, shift: 2 });
    const seen = new Set<string>();
    for (let step = 0; step < 2; step++) {
      const p = (await plain.next())!;
      const pIndex = Array.from(p.index);
      const s = (await shifted.next())!;
      expect(Array.from(s.index)).toEqual(pIndex);
      const sX = s.x.slice();
      expect((await again.next())!.x).toEqual(sX);
      for (let r = 0; r < 32; r++) {
        const src = ds.images.subarray(pIndex[r] * 784, (pIndex[r] + 1) * 784);
        const row = sX.subarray(r * 784, (r + 1) * 784);
        const matches: string[] = [];
        for (let dy = -2; dy <= 2; dy++) {
          for (let dx = -2; dx <= 2; dx++) {
            let same = true;
            for (let i = 0; i < 28 && same; i++) {
              for (let j = 0; j < 28 && same; j++) {
                const si = i + dy;
                const sj = j + dx;
                const want = si < 0 || si >= 28 || sj < 0 || sj >= 28 ? 0 : Math.fround(src[si * 28 + sj] / 255);
                same = row[i * 28 + j] === want;
              }
            }
            if (same) matches.push(`${dy},${dx}`);
          }
        }
        expect(matches.length).toBeGreaterThan(0);
        if (matches.length === 1) seen.add(matches[0]);
      }
    }
    expect(seen.size).toBeGreaterThan(10); // the offsets vary over the 5 × 5 possibilities
  });

  it('shift: rejects offsets that leave no image', () => {
    const loader = createLoader(ds);
    const pools = [new Int32Array([0, 1, 2])];
    expect(() => loader.trainStream({ domains: [0], pools, batchSizePerDomain: 4, runSeed: 0, shift: 28 })).toThrowError(/shift: must be an integer from 0 to 27 pixels, got 28/);
    expect(() => loader.trainStream({ domains: [0], pools, batchSizePerDomain: 4, runSeed: 0, shift: 1.5 })).toThrowError(/shift/);
  });

  it('rejects bad options with one-line errors', () => {
    const loader = createLoader(ds);
    expect(() => loader.trainStream({ domains: [0], pools: [], batchSizePerDomain: 4, runSeed: 0 })).toThrowError(/one index pool per training domain/);
    expect(() => loader.trainStream({ domains: [0], pools: [new Int32Array(3)], batchSizePerDomain: 0, runSeed: 0 })).toThrowError(/positive integer/);
    expect(() => trainingDomains(ds, [6])).toThrowError(/6 is not a domain index of rotated_mnist/);
  });
});

describe('evaluation', () => {
  // A "model" that is right exactly when the sample's global index is even: known accuracies.
  const parity = (b: Batch) => {
    const out = new Int32Array(b.shape[0]);
    for (let r = 0; r < out.length; r++) out[r] = b.index[r] % 2 === 0 ? Number(b.y[r]) : (Number(b.y[r]) + 1) % 10;
    return out;
  };

  it('iterates every index of a split once, in order, in batches of at most 64', async () => {
    const splits = makeSplits(ds, 0);
    const idx = splitIndices(ds, splits, 2, 'out');
    const loader = createLoader(ds);
    const seen: number[] = [];
    const sizes: number[] = [];
    for await (const b of loader.indexStream(idx)) {
      seen.push(...b.index);
      sizes.push(b.shape[0]);
    }
    expect(seen).toEqual(Array.from(idx));
    expect(sizes).toEqual([64, 64, 64, 64, 64, 13]);
  });

  it('computes per-domain in/out/full accuracy, validation, pooled validation and test accuracy', async () => {
    const splits = makeSplits(ds, 0);
    const loader = createLoader(ds);
    const acc = await evaluateDomains(loader, splits, parity);
    expect(acc.map((a) => a.domain)).toEqual(ds.domains);
    acc.forEach((a, d) => {
      const evens = (which: 'in' | 'out') => splitIndices(ds, splits, d, which).filter((i) => i % 2 === 0).length;
      expect(a.in).toEqual({ correct: evens('in'), total: splits[d].in.length, acc: evens('in') / splits[d].in.length });
      expect(a.out.correct).toBe(evens('out'));
      expect(a.full.total).toBe(domainSize(ds, d));
      expect(a.full.correct).toBe(evens('in') + evens('out'));
    });
    const val = trainingDomainValidation(ds, acc, [0]);
    expect(val).toBeCloseTo([1, 2, 3, 4, 5].reduce((s, d) => s + acc[d].out.acc, 0) / 5, 12);
    const pooled = pooledValidation(ds, acc, [0]);
    expect(pooled).toBeCloseTo([1, 2, 3, 4, 5].reduce((s, d) => s + acc[d].out.correct, 0) / (5 * 333), 12);
    expect(testAccuracy(ds, acc, 0, 'in')).toBe(acc[0].in.acc);
    expect(testAccuracy(ds, acc, 5, 'full')).toBe(acc[5].full.acc);
  });

  it('counts argmax of logits with first-max tie breaking', () => {
    const logits = Float32Array.of(0.1, 0.9, 0.5, 0.5, 2, 1);
    expect(countCorrect(logits, BigInt64Array.of(1n, 0n, 0n), 2)).toBe(3);
    expect(countCorrect(logits, BigInt64Array.of(0n, 1n, 1n), 2)).toBe(0);
    expect(() => countCorrect(logits, BigInt64Array.of(0n), 2)).toThrowError(/6 logits for a batch of 1/);
  });
});

describe('seeds and aggregation', () => {
  it('runSeed is seed_hash of the DomainBed tuple', () => {
    expect(runSeed('RotatedMNIST', 'ERM', [0], 1, 0)).toBe(fx.seedHash[2].hash);
    expect(runSeed('RotatedMNIST', 'ERM', [0], 1, 0)).toBe(seedHash('RotatedMNIST', 'ERM', [0], 1, 0));
  });

  it('mean ± SE uses the population std over √n', () => {
    const r = meanAndStandardError([0.7, 0.8, 0.9]);
    expect(r.mean).toBeCloseTo(0.8, 12);
    expect(r.se).toBeCloseTo(Math.sqrt(((0.1 ** 2) * 2) / 3) / Math.sqrt(3), 12);
    expect(meanAndStandardError([0.5]).se).toBe(0);
  });
});
