// Image-folder datasets with PNG/JPEG files made by sharp here: ordering and labels, corrupt
// files (skipped and reported, or fatal when strict), folder errors, the test transform's
// normalisation, augmentation shapes/statistics and determinism, worker vs in-process decode.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawAugmentParams, IMAGENET_MEAN, IMAGENET_STD, randomResizedCropBox, colorAugment } from '../../src/data/augment.js';
import type { FolderDataset } from '../../src/data/dataset.js';
import { scanImageFolder } from '../../src/data/folder.js';
import { loadImageSample } from '../../src/data/image-transform.js';
import { createLoader } from '../../src/data/loader.js';
import { makeSplits, trainingPools } from '../../src/data/protocol.js';
import { openDataset } from '../../src/data/registry.js';
import { RandomState } from '../../src/util/numpy-random.js';

const root = mkdtempSync(join(tmpdir(), 'rt-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A noisy RGB image with a given mean colour. */
async function writeImage(file: string, w: number, h: number, rgb: [number, number, number], seed: number): Promise<void> {
  const rs = new RandomState(seed);
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) px[3 * i + c] = Math.max(0, Math.min(255, rgb[c] + rs.randint(-40, 41)));
  const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
  await (file.endsWith('.png') ? img.png() : img.jpeg({ quality: 90 })).toFile(file);
}

async function makeTree(dir: string, domains: string[], classes: string[], perClass = 3): Promise<void> {
  let seed = 1;
  for (const d of domains) {
    for (const [ci, c] of classes.entries()) {
      mkdirSync(join(dir, d, c), { recursive: true });
      for (let k = 0; k < perClass; k++) {
        const ext = k % 2 ? 'png' : 'jpg';
        await writeImage(join(dir, d, c, `img${k}.${ext}`), 60 + 10 * k, 50, ci === 0 ? [200, 60, 60] : [60, 60, 200], seed++);
      }
    }
  }
}

let good: string;
beforeAll(async () => {
  good = join(root, 'PACS-mini');
  await makeTree(good, ['photo', 'art'], ['dog', 'cat']);
  writeFileSync(join(good, 'art', 'cat', 'broken.jpg'), Buffer.from('this is not a jpeg'));
  writeFileSync(join(good, 'art', 'cat', 'notes.txt'), 'ignored: not an image extension');
});

describe('scanImageFolder', () => {
  it('sorts domains, classes and files like ImageFolder and skips an undecodable file', async () => {
    const ds = (await openDataset(`folder:${good}`)) as FolderDataset;
    expect(ds.domains).toEqual(['art', 'photo']);
    expect(ds.classes).toEqual(['cat', 'dog']);
    expect(ds.domainbedName).toBe('PACS-mini');
    expect(ds.shape).toEqual([3, 224, 224]);
    expect(Array.from(ds.offsets)).toEqual([0, 6, 12]);
    expect(ds.files.slice(0, 3).map((f) => f.slice(good.length + 1))).toEqual(['art/cat/img0.jpg', 'art/cat/img1.png', 'art/cat/img2.jpg']);
    expect(Array.from(ds.labels)).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1]);
    expect(ds.skipped).toHaveLength(1);
    expect(ds.skipped[0].file).toBe(join(good, 'art', 'cat', 'broken.jpg'));
  });

  it('fails on the corrupt file in strict mode, naming it', async () => {
    await expect(scanImageFolder(good, { strict: true })).rejects.toThrowError(new RegExp(`${join(good, 'art', 'cat', 'broken.jpg')}: cannot decode image`));
  });

  it('rejects an empty class folder, an empty domain and inconsistent classes, naming the folder', async () => {
    const a = join(root, 'empty-class');
    await makeTree(a, ['d1', 'd2'], ['x', 'y'], 1);
    mkdirSync(join(a, 'd2', 'z'));
    mkdirSync(join(a, 'd1', 'z'));
    await expect(scanImageFolder(a)).rejects.toThrowError(new RegExp(`${join(a, 'd1', 'z')}: empty class folder`));
    const b = join(root, 'empty-domain');
    await makeTree(b, ['d1'], ['x'], 1);
    mkdirSync(join(b, 'd2'));
    await expect(scanImageFolder(b)).rejects.toThrowError(new RegExp(`${join(b, 'd2')}: empty domain folder`));
    const c = join(root, 'inconsistent');
    await makeTree(c, ['d1'], ['x', 'y'], 1);
    await makeTree(c, ['d2'], ['x', 'w'], 1);
    await expect(scanImageFolder(c)).rejects.toThrowError(new RegExp(`${join(c, 'd2')}: class folders differ from .*d1; missing y; extra w`));
    await expect(scanImageFolder(join(root, 'nope'))).rejects.toThrowError(/nope: not a folder/);
  });
});

describe('image transforms', () => {
  it('test transform: a flat colour normalises to (c/255 − mean)/std in every pixel', async () => {
    const f = join(root, 'flat.png');
    await sharp({ create: { width: 30, height: 20, channels: 3, background: { r: 10, g: 128, b: 250 } } }).png().toFile(f);
    const out = new Float32Array(3 * 224 * 224);
    await loadImageSample(f, 224, null, out);
    [10, 128, 250].forEach((v, c) => {
      const want = (v / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
      const plane = out.subarray(c * 224 * 224, (c + 1) * 224 * 224);
      expect(Math.max(...plane.map((x) => Math.abs(x - want)))).toBeLessThan(1e-5);
    });
  });

  it('decodes grey, RGBA and 16-bit PNGs to RGB like PIL convert("RGB")', async () => {
    const grey = join(root, 'grey.png');
    await sharp(Buffer.alloc(16 * 16, 100), { raw: { width: 16, height: 16, channels: 1 } }).png().toFile(grey);
    const rgba = join(root, 'rgba.png');
    await sharp({ create: { width: 16, height: 16, channels: 4, background: { r: 100, g: 100, b: 100, alpha: 0.2 } } }).png().toFile(rgba);
    const deep = join(root, 'deep.png');
    await sharp(Buffer.alloc(16 * 16 * 3, 100), { raw: { width: 16, height: 16, channels: 3 } }).toColourspace('rgb16').png().toFile(deep);
    const out = new Float32Array(3 * 224 * 224);
    for (const f of [grey, rgba, deep]) {
      await loadImageSample(f, 224, null, out);
      [0, 1, 2].forEach((c) => expect(out[c * 224 * 224 + 5000]).toBeCloseTo((100 / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], 2));
    }
  });

  it('crop boxes stay inside the image with area 0.7–1 and aspect 3/4–4/3', () => {
    const rs = new RandomState(5);
    for (let i = 0; i < 500; i++) {
      const b = randomResizedCropBox(rs, 227, 227);
      expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= 227 && b.left + b.width <= 227).toBe(true);
      const area = (b.width * b.height) / (227 * 227);
      expect(area).toBeGreaterThan(0.68);
      expect(area).toBeLessThanOrEqual(1);
      expect(b.width / b.height).toBeGreaterThan(0.74);
      expect(b.width / b.height).toBeLessThan(1.35);
    }
    // a very wide image falls back to a centre crop at ratio 4/3 when all tries fail
    const wide = randomResizedCropBox(new RandomState(1), 1000, 10);
    expect(wide.height).toBeLessThanOrEqual(10);
  });

  it('colour ops match torchvision functional_tensor (run in torch) on a small image', () => {
    const fx = JSON.parse(readFileSync(new URL('../fixtures/data/colour-ops.json', import.meta.url), 'utf8'));
    const plane = fx.shape[1] * fx.shape[2];
    for (const c of fx.cases) {
      const img = Float32Array.from(fx.input);
      colorAugment(img, plane, { ...drawAugmentParams(new RandomState(0), 8, 8), ...c });
      const worst = Math.max(...Array.from(img, (v, i) => Math.abs(v - c.output[i])));
      expect(worst).toBeLessThan(2e-6);
    }
  });

  it('colour ops: neutral factors are the identity, grayscale equalises channels, values stay in [0, 1]', () => {
    const plane = 64;
    const rs = new RandomState(2);
    const img = Float32Array.from({ length: 3 * plane }, () => rs.randomSample());
    const same = img.slice();
    colorAugment(same, plane, { ...drawAugmentParams(new RandomState(0), 8, 8), brightness: 1, contrast: 1, saturation: 1, hue: 0, grayscale: false });
    same.forEach((v, i) => expect(v).toBeCloseTo(img[i], 5));
    const g = img.slice();
    colorAugment(g, plane, { ...drawAugmentParams(new RandomState(0), 8, 8), brightness: 1.3, contrast: 0.7, saturation: 1.3, hue: 0.3, grayscale: true });
    for (let i = 0; i < plane; i++) {
      expect(g[i]).toBe(g[plane + i]);
      expect(g[i]).toBe(g[2 * plane + i]);
    }
    const h = img.slice();
    colorAugment(h, plane, { ...drawAugmentParams(new RandomState(0), 8, 8), brightness: 1, contrast: 1, saturation: 1, hue: 0.5, grayscale: false });
    expect(h.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(h.some((v, i) => Math.abs(v - img[i]) > 0.1)).toBe(true);
  });

  it('augmented samples: right shape, deterministic per seed, different across seeds, near-normalised statistics', async () => {
    const ds = (await openDataset(`folder:${good}`)) as FolderDataset;
    const per = 3 * 224 * 224;
    const a = new Float32Array(per);
    const b = new Float32Array(per);
    const c = new Float32Array(per);
    await loadImageSample(ds.files[0], 224, 42, a);
    await loadImageSample(ds.files[0], 224, 42, b);
    await loadImageSample(ds.files[0], 224, 43, c);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
    // every augmented value is in the normalised range, and the mean intensity stays near the
    // test transform's (brightness/contrast/saturation factors average 1, hue keeps max/min)
    const lo = Math.min(...[0, 1, 2].map((k) => -IMAGENET_MEAN[k] / IMAGENET_STD[k]));
    const hi = Math.max(...[0, 1, 2].map((k) => (1 - IMAGENET_MEAN[k]) / IMAGENET_STD[k]));
    const intensity = (x: Float32Array) => {
      let s = 0;
      for (let c = 0; c < 3; c++) for (let i = 0; i < 224 * 224; i++) s += x[c * 224 * 224 + i] * IMAGENET_STD[c] + IMAGENET_MEAN[c];
      return s / per;
    };
    await loadImageSample(ds.files[0], 224, null, b);
    const plain = intensity(b);
    let mean = 0;
    for (let s = 0; s < 16; s++) {
      await loadImageSample(ds.files[0], 224, s, a);
      expect(a.every((v) => v >= lo - 1e-5 && v <= hi + 1e-5)).toBe(true);
      mean += intensity(a) / 16;
    }
    expect(Math.abs(mean - plain)).toBeLessThan(0.1);
    expect(plain).toBeGreaterThan(0.3); // the blue test image: (60 + 60 + 200) / 3 / 255 ≈ 0.42
  });
});

describe('folder batches', () => {
  it('worker decoding gives the same batches as in-process decoding', async () => {
    const ds = (await openDataset(`folder:${good}`)) as FolderDataset;
    const splits = makeSplits(ds, 0);
    const pools = trainingPools(ds, splits, [0, 1]);
    const inproc = createLoader(ds, { workers: 0 });
    const workers = createLoader(ds, { workers: 2 });
    try {
      const s1 = inproc.trainStream({ domains: [0, 1], pools, batchSizePerDomain: 3, runSeed: 9 });
      const s2 = workers.trainStream({ domains: [0, 1], pools, batchSizePerDomain: 3, runSeed: 9 });
      expect(() => inproc.trainStream({ domains: [0, 1], pools, batchSizePerDomain: 3, runSeed: 9, shift: 2 })).toThrowError(/image folders have their own training augmentation/);
      for (let step = 0; step < 2; step++) {
        const a = (await s1.next())!;
        const b = (await s2.next())!;
        expect(a.shape).toEqual([6, 3, 224, 224]);
        expect(Array.from(b.index)).toEqual(Array.from(a.index));
        expect(Array.from(b.y)).toEqual(Array.from(a.y));
        expect(Buffer.from(b.x.buffer, b.x.byteOffset, b.x.byteLength).equals(Buffer.from(a.x.buffer, a.x.byteOffset, a.x.byteLength))).toBe(true);
      }
      // evaluation batches use the test transform unless an augment seed is given
      const ev = await workers.indexStream(Int32Array.of(0, 1, 2), { batchSize: 2 }).next();
      const one = new Float32Array(3 * 224 * 224);
      await loadImageSample(ds.files[1], 224, null, one);
      expect(ev!.x.subarray(3 * 224 * 224)).toEqual(one);
    } finally {
      await inproc.close();
      await workers.close();
    }
  });

  it('reports a file that fails to decode at load time as an error naming it', async () => {
    const dir = join(root, 'late-failure');
    await makeTree(dir, ['d'], ['x'], 2);
    const ds = (await openDataset(`folder:${dir}`)) as FolderDataset;
    writeFileSync(ds.files[1], Buffer.from('replaced after the scan'));
    const loader = createLoader(ds, { workers: 1 });
    try {
      await expect(loader.indexStream(Int32Array.of(0, 1)).next()).rejects.toThrowError(new RegExp(`${ds.files[1]}: cannot decode image`));
    } finally {
      await loader.close();
    }
  });
});
