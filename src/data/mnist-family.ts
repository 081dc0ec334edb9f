// Domain construction for the MNIST-sized datasets. Unlike DomainBed (§8.10 of the spec),
// membership comes from a fixed data seed, not the run seed: perm = RandomState(dataSeed)
// .permutation(n) and domain i takes perm[i::D]. ColoredMNIST then continues that same
// RandomState for its noise, domain by domain: 25% label flips, then colour flips with p = e.
import { RandomState } from '../util/numpy-random.js';
import type { Shape3 } from './dataset.js';
import { offsetsFromSizes } from './dataset.js';
import { rotateImages, rotationPlan } from './rotate.js';
import type { RawImages } from './sources.js';

/** The in-memory content of a tensor dataset (what the cache stores). */
export interface BuiltTensors {
  readonly domains: string[];
  readonly classes: string[];
  readonly shape: Shape3;
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  readonly offsets: Int32Array;
}

export const ROTATED_ANGLES = [0, 15, 30, 45, 60, 75];
export const COLORED_ENVIRONMENTS = [0.1, 0.2, 0.9];
export const COLORED_LABEL_NOISE = 0.25;
export const DIGIT_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** perm[i::D] for perm = permutation(n) of `rs`: the indices of each of D domains. */
export function stridedDomains(rs: RandomState, n: number, domains: number): Int32Array[] {
  const perm = rs.permutation(n);
  return Array.from({ length: domains }, (_, i) => {
    const out = new Int32Array(Math.ceil((n - i) / domains));
    for (let k = 0, j = i; j < n; j += domains, k++) out[k] = perm[j];
    return out;
  });
}

function gather(src: RawImages, idx: Int32Array, dst: Uint8Array, dstOffset: number): void {
  const px = src.height * src.width;
  for (let k = 0; k < idx.length; k++) dst.set(src.images.subarray(idx[k] * px, (idx[k] + 1) * px), dstOffset + k * px);
}

/** RotatedMNIST-style: D = angles.length domains, each rotated counter-clockwise by its angle. */
export function buildRotated(src: RawImages, classes: string[], dataSeed: number, angles = ROTATED_ANGLES): BuiltTensors {
  const px = src.height * src.width;
  const parts = stridedDomains(new RandomState(dataSeed), src.count, angles.length);
  const offsets = offsetsFromSizes(parts.map((p) => p.length));
  const images = new Uint8Array(src.count * px);
  const labels = new Int32Array(src.count);
  const scratch = new Uint8Array(Math.max(...parts.map((p) => p.length)) * px);
  parts.forEach((idx, d) => {
    const o = offsets[d];
    for (let k = 0; k < idx.length; k++) labels[o + k] = src.labels[idx[k]];
    if (angles[d] === 0) {
      gather(src, idx, images, o * px);
    } else {
      gather(src, idx, scratch, 0);
      rotateImages(rotationPlan(angles[d], src.height, src.width), scratch, images.subarray(o * px), idx.length);
    }
  });
  return { domains: angles.map(String), classes, shape: [1, src.height, src.width], images, labels, offsets };
}

/** ColoredMNIST: binary label digit < 5 with 25% noise; colour = label xor Bernoulli(e); 2 channels. */
export function buildColored(src: RawImages, dataSeed: number, envs = COLORED_ENVIRONMENTS): BuiltTensors {
  const px = src.height * src.width;
  const rs = new RandomState(dataSeed);
  const parts = stridedDomains(rs, src.count, envs.length);
  const offsets = offsetsFromSizes(parts.map((p) => p.length));
  const images = new Uint8Array(src.count * 2 * px); // zero: the unused channel stays 0
  const labels = new Int32Array(src.count);
  parts.forEach((idx, d) => {
    const labelFlip = rs.randomSampleArray(idx.length);
    const colourFlip = rs.randomSampleArray(idx.length);
    for (let k = 0; k < idx.length; k++) {
      const g = offsets[d] + k;
      const y = (src.labels[idx[k]] < 5 ? 1 : 0) ^ (labelFlip[k] < COLORED_LABEL_NOISE ? 1 : 0);
      const colour = y ^ (colourFlip[k] < envs[d] ? 1 : 0);
      labels[g] = y;
      images.set(src.images.subarray(idx[k] * px, (idx[k] + 1) * px), (2 * g + colour) * px);
    }
  });
  const names = envs.map((e) => (e < 0.5 ? `+${Math.round((1 - e) * 100)}%` : `-${Math.round(e * 100)}%`));
  return { domains: names, classes: ['0', '1'], shape: [2, src.height, src.width], images, labels, offsets };
}

/** Concatenates image sets (e.g. Fashion train + test, as DomainBed concatenates MNIST's). */
export function concatRaw(parts: RawImages[]): RawImages {
  const { height, width } = parts[0];
  const count = parts.reduce((a, p) => a + p.count, 0);
  const images = new Uint8Array(count * height * width);
  const labels = new Int32Array(count);
  let n = 0;
  for (const p of parts) {
    images.set(p.images, n * height * width);
    labels.set(p.labels, n);
    n += p.count;
  }
  return { images, labels, count, height, width };
}

/** Unchanged images, one domain per named part (e.g. Fashion `train` / `test`). */
export function buildPlain(parts: { name: string; raw: RawImages }[], classes: string[]): BuiltTensors {
  const all = concatRaw(parts.map((p) => p.raw));
  return {
    domains: parts.map((p) => p.name),
    classes,
    shape: [1, all.height, all.width],
    images: all.images,
    labels: all.labels,
    offsets: offsetsFromSizes(parts.map((p) => p.raw.count)),
  };
}
