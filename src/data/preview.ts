// A PNG contact sheet of a dataset: one row per domain, `perDomain` random samples each, as
// the model sees them (folder images un-normalised back to RGB; ColoredMNIST's two channels
// shown as red and green). Written atomically.
import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomic.js';
import { RandomState } from '../util/numpy-random.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './augment.js';
import { domainSize, type DomainDataset } from './dataset.js';
import { createLoader } from './loader.js';

export interface PreviewOptions {
  readonly perDomain?: number;
  /** Picks the samples (and folder augmentation when `augment`). */
  readonly seed?: number;
  /** Folder datasets: show the training augmentation instead of the test transform. */
  readonly augment?: boolean;
  /** Output pixels per input pixel (default 3 for 28×28 inputs, 0.5 for 224×224). */
  readonly scale?: number;
  readonly workers?: number;
}

const GAP = 2;

/** One model-input sample → interleaved RGB bytes. */
function sampleToRgb(ds: DomainDataset, x: Float32Array, out: Uint8Array): void {
  const [c, h, w] = ds.shape;
  const plane = h * w;
  const byte = (v: number) => Math.max(0, Math.min(255, Math.round(v * 255)));
  for (let i = 0; i < plane; i++) {
    let r: number, g: number, b: number;
    if (ds.kind === 'folder') {
      r = x[i] * IMAGENET_STD[0] + IMAGENET_MEAN[0];
      g = x[plane + i] * IMAGENET_STD[1] + IMAGENET_MEAN[1];
      b = x[2 * plane + i] * IMAGENET_STD[2] + IMAGENET_MEAN[2];
    } else if (c === 1) r = g = b = x[i];
    else if (c === 2) [r, g, b] = [x[i], x[plane + i], 0];
    else [r, g, b] = [x[i], x[plane + i], x[2 * plane + i]];
    out[3 * i] = byte(r);
    out[3 * i + 1] = byte(g);
    out[3 * i + 2] = byte(b);
  }
}

/** Renders the grid and writes it as PNG to `file`; returns its pixel size. */
export async function writePreview(ds: DomainDataset, file: string, opts: PreviewOptions = {}): Promise<{ width: number; height: number }> {
  const perDomain = opts.perDomain ?? 8;
  const [, h, w] = ds.shape;
  const cols = perDomain;
  const rows = ds.domains.length;
  const gridW = cols * w + (cols + 1) * GAP;
  const gridH = rows * h + (rows + 1) * GAP;
  const grid = Buffer.alloc(gridW * gridH * 3, 255);
  const rs = new RandomState(opts.seed ?? 0);
  const loader = createLoader(ds, { workers: opts.workers ?? 0 });
  const rgb = new Uint8Array(h * w * 3);
  try {
    for (let d = 0; d < rows; d++) {
      const n = Math.min(perDomain, domainSize(ds, d));
      const pick = rs.permutation(domainSize(ds, d)).subarray(0, n).map((i) => ds.offsets[d] + i);
      const stream = loader.indexStream(pick, { batchSize: n, augmentSeed: opts.augment ? rs.nextUint32() : null });
      const batch = (await stream.next())!;
      const per = ds.shape[0] * h * w;
      for (let k = 0; k < n; k++) {
        sampleToRgb(ds, batch.x.subarray(k * per, (k + 1) * per), rgb);
        const x0 = GAP + k * (w + GAP);
        const y0 = GAP + d * (h + GAP);
        for (let y = 0; y < h; y++) grid.set(rgb.subarray(3 * y * w, 3 * (y + 1) * w), 3 * ((y0 + y) * gridW + x0));
      }
    }
  } finally {
    await loader.close();
  }
  const scale = opts.scale ?? (h <= 64 ? 3 : 0.5);
  const width = Math.max(1, Math.round(gridW * scale));
  const height = Math.max(1, Math.round(gridH * scale));
  const png = await sharp(grid, { raw: { width: gridW, height: gridH, channels: 3 } })
    .resize(width, height, { kernel: scale >= 1 ? 'nearest' : 'linear' })
    .png()
    .toBuffer();
  writeFileAtomic(file, png);
  return { width, height };
}
