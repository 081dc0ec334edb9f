// Shared pieces of the eval tests: a tiny MNIST_CNN with fixed weights exported to a temp file,
// small in-memory domain datasets, and the reference computation (ForwardSession logits of the
// samples themselves, argmax with the first maximum winning).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTensorDataset, type TensorDataset } from '../../src/data/index.js';
import { buildModel, ForwardSession, Rng, type Model } from '../../src/graph/index.js';

/** Width 8: GroupNorm(8) needs a multiple of 8 channels (width 4 cannot be built). */
export const WIDTH = 8;

export function tinyModel(channels: number, classes: number): { model: Model; weights: Map<string, Float32Array> } {
  const model = buildModel({ arch: 'mnist_cnn', inputShape: [channels, 28, 28], numClasses: classes, width: WIDTH });
  const weights = model.initParams(11);
  // non-trivial GroupNorm affine terms, so they are exercised too
  const rng = new Rng(5, 'affine');
  for (const p of model.params) if (p.name.includes('.bn')) weights.get(p.name)!.forEach((_, i, a) => (a[i] += 0.3 * (rng.uniform() - 0.5)));
  return { model, weights };
}

export function writeModel(dir: string, name: string, bytes: Uint8Array): string {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

/** Random digits-like images in `sizes.length` domains; labels from a seeded stream. */
export function smallDataset(sizes: readonly number[], channels: number, classes: number, seed = 0): TensorDataset {
  const rng = new Rng(seed, 'images');
  const count = sizes.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(count * channels * 784);
  for (let i = 0; i < images.length; i++) images[i] = rng.uniform() < 0.7 ? 0 : Math.floor(256 * rng.uniform());
  const labels = Int32Array.from({ length: count }, () => Math.floor(classes * rng.uniform()));
  const offsets = new Int32Array(sizes.length + 1);
  sizes.forEach((n, d) => (offsets[d + 1] = offsets[d] + n));
  return makeTensorDataset({
    name: `small${sizes.length}`,
    domains: sizes.map((_, d) => `d${d}`),
    classes: Array.from({ length: classes }, (_, k) => String(k)),
    shape: [channels, 28, 28],
    images,
    labels,
    offsets,
  });
}

/** Predicted classes of `indices`, straight from a ForwardSession on pixel/255 inputs. */
export async function referenceClasses(model: Model, weights: Map<string, Float32Array>, ds: TensorDataset, indices: Int32Array): Promise<Int32Array> {
  const per = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const x = new Float32Array(indices.length * per);
  indices.forEach((s, r) => {
    for (let k = 0; k < per; k++) x[r * per + k] = ds.images[s * per + k] / 255;
  });
  const fs = await ForwardSession.create(model, weights, { threads: 1 });
  const logits = await fs.logits(x);
  await fs.release();
  const k = model.spec.numClasses;
  return Int32Array.from(indices, (_, r) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[r * k + j] > logits[r * k + best]) best = j;
    return best;
  });
}

export function correctOf(pred: Int32Array, ds: TensorDataset, indices: Int32Array): number {
  return indices.reduce((c, s, r) => c + Number(pred[r] === ds.labels[s]), 0);
}
