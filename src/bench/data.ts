// `ratatouille bench data`: images/s of the loader alone (no model) for MNIST-sized data
// (RotatedMNIST training batches and evaluation batches) and for 224×224 image folders
// (synthetic JPEGs in a temporary folder, with and without decode workers), each as a ratio
// to what a training step consumes. Consumption comes from options, measured elsewhere:
// default MNIST 1.3 ms/image (MNIST_CNN width 32, 2 threads, mini-benchmark.md §6) and
// ResNet-50 120 ms/image (≈12 GFLOP fwd+bwd per image at ≈100 GFLOP/s on 2 CPU cores, an estimate).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { InputError } from '../errors.js';
import type { DomainDataset } from '../data/dataset.js';
import { defaultDecodeWorkers } from '../data/decode-pool.js';
import { createLoader } from '../data/loader.js';
import { makeSplits, splitIndices, trainingDomains, trainingPools } from '../data/protocol.js';
import { openDataset } from '../data/registry.js';
import { RandomState } from '../util/numpy-random.js';

export interface LoaderRate {
  readonly what: string;
  readonly images: number;
  readonly seconds: number;
  readonly imagesPerSec: number;
  /** Loader images/s over the images/s a training step consumes. */
  readonly ratio: number | null;
}

async function timeTrain(ds: DomainDataset, batchPerDomain: number, steps: number, workers: number): Promise<{ images: number; seconds: number }> {
  const splits = makeSplits(ds, 0);
  const train = trainingDomains(ds, [0]);
  const loader = createLoader(ds, { workers });
  try {
    const stream = loader.trainStream({ domains: train, pools: trainingPools(ds, splits, train), batchSizePerDomain: batchPerDomain, runSeed: 0 });
    await stream.next(); // warm-up: worker start, first fill
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) await stream.next();
    return { images: steps * batchPerDomain * train.length, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await loader.close();
  }
}

async function timeEval(ds: DomainDataset, workers: number, repeat: number): Promise<{ images: number; seconds: number }> {
  const splits = makeSplits(ds, 0);
  const loader = createLoader(ds, { workers });
  try {
    const t0 = performance.now();
    let images = 0;
    for (let r = 0; r < repeat; r++) {
      for (let d = 0; d < ds.domains.length; d++) {
        for await (const b of loader.indexStream(splitIndices(ds, splits, d, 'full'), { batchSize: 64 })) images += b.shape[0];
      }
    }
    return { images, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await loader.close();
  }
}

/** A folder of photo-like JPEGs (smooth gradients, shapes, mild noise): domains × classes × perClass. */
export async function syntheticJpegFolder(dir: string, domains: number, classes: number, perClass: number, size = 256): Promise<void> {
  const rs = new RandomState(0);
  const px = Buffer.alloc(size * size * 3);
  for (let d = 0; d < domains; d++) {
    for (let c = 0; c < classes; c++) {
      const cdir = join(dir, `domain${d}`, `class${c}`);
      mkdirSync(cdir, { recursive: true });
      for (let k = 0; k < perClass; k++) {
        const [fx, fy, ph] = [rs.uniform(8, 40), rs.uniform(8, 40), rs.uniform(0, 6.28)];
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const i = 3 * (y * size + x);
            const inBox = Math.abs(x - size / 2) < size / 5 && Math.abs(y - size / 3) < size / 6;
            px[i] = inBox ? 30 : 128 + 90 * Math.sin(x / fx + ph) + rs.randint(-12, 13);
            px[i + 1] = 128 + 90 * Math.sin(y / fy + 2 * ph) + rs.randint(-12, 13);
            px[i + 2] = inBox ? 220 : 128 + 90 * Math.cos((x + y) / (fx + fy)) + rs.randint(-12, 13);
          }
        }
        await sharp(px, { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(cdir, `${k}.jpg`));
      }
    }
  }
}

const rate = (what: string, r: { images: number; seconds: number }, consumePerSec: number | null): LoaderRate => {
  const imagesPerSec = r.images / r.seconds;
  return { what, images: r.images, seconds: r.seconds, imagesPerSec, ratio: consumePerSec ? imagesPerSec / consumePerSec : null };
};

export interface DataBenchOptions {
  readonly mnistMsPerImage: number;
  readonly folderMsPerImage: number;
  readonly steps: number;
  readonly folderSteps: number;
  readonly workers: number;
  readonly cacheDir?: string;
}

export async function runDataBench(o: DataBenchOptions): Promise<LoaderRate[]> {
  const out: LoaderRate[] = [];
  const mnist = await openDataset('rotated_mnist', { cacheDir: o.cacheDir });
  const mnistConsume = 1000 / o.mnistMsPerImage;
  out.push(rate('rotated_mnist train batches (5 domains × 16)', await timeTrain(mnist, 16, o.steps, 0), mnistConsume));
  out.push(rate('rotated_mnist train batches (5 domains × 32)', await timeTrain(mnist, 32, o.steps, 0), mnistConsume));
  out.push(rate('rotated_mnist eval batches (64, all domains)', await timeEval(mnist, 0, 3), null));

  const dir = mkdtempSync(join(tmpdir(), 'rt-bench-data-'));
  try {
    await syntheticJpegFolder(dir, 3, 2, 16);
    const folder = await openDataset(`folder:${dir}`);
    const consume = 1000 / o.folderMsPerImage;
    for (const w of [...new Set([0, o.workers])]) {
      const label = w === 0 ? 'in-process' : `${w} worker${w > 1 ? 's' : ''}`;
      out.push(rate(`224×224 folder, augmented train batches (2 domains × 32), ${label}`, await timeTrain(folder, 32, o.folderSteps, w), consume));
      out.push(rate(`224×224 folder, test-transform eval batches (64), ${label}`, await timeEval(folder, w, 1), null));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InputError(name, `expected a positive number, got '${v}'`);
  return n;
}

export function dataBenchCommand(): Command {
  return new Command('data')
    .description('images/s of the data loader alone (MNIST-sized and 224×224 folders) and its ratio to training consumption')
    .option('--json', 'machine-readable output on stdout')
    .option('--mnist-ms-per-image <ms>', 'training cost per MNIST image (MNIST_CNN width 32, 2 threads: 1.3)', '1.3')
    .option('--folder-ms-per-image <ms>', 'training cost per 224×224 image (ResNet-50 on 2 CPU cores, estimate: 120)', '120')
    .option('--steps <n>', 'MNIST training batches timed', '2000')
    .option('--folder-steps <n>', 'folder training batches timed', '4')
    .option('--workers <n>', 'decode workers for the folder run (besides in-process)', String(defaultDecodeWorkers()))
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const rates = await runDataBench({
        mnistMsPerImage: positive('--mnist-ms-per-image', String(opts.mnistMsPerImage)),
        folderMsPerImage: positive('--folder-ms-per-image', String(opts.folderMsPerImage)),
        steps: Math.round(positive('--steps', String(opts.steps))),
        folderSteps: Math.round(positive('--folder-steps', String(opts.folderSteps))),
        workers: Math.round(positive('--workers', String(opts.workers))),
      });
      if (opts.json) {
        process.stdout.write(JSON.stringify(rates, null, 2) + '\n');
        return;
      }
      for (const r of rates) {
        const ratio = r.ratio === null ? '' : `  ${r.ratio.toFixed(1)}× training consumption`;
        process.stdout.write(`${r.what.padEnd(72)} ${r.imagesPerSec.toFixed(0).padStart(9)} images/s${ratio}\n`);
      }
    });
}
