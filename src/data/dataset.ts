// The dataset model shared by loaders, protocol and CLI: samples are stored domain-major and
// addressed by a global index; domain d owns [offsets[d], offsets[d+1]). Tensor datasets hold
// uint8 pixels in memory (MNIST family); folder datasets hold file paths decoded on demand.

export type Shape3 = readonly [channels: number, height: number, width: number];

interface DatasetCommon {
  /** Registry name, e.g. `rotated_mnist` or `folder:/data/PACS`. */
  readonly name: string;
  /** The DomainBed class name used in run seeds, e.g. `RotatedMNIST`, `PACS`. */
  readonly domainbedName: string;
  readonly domains: readonly string[];
  readonly classes: readonly string[];
  /** Shape of one model input sample, [C, H, W]. */
  readonly shape: Shape3;
  readonly labels: Int32Array;
  readonly offsets: Int32Array;
}

export interface TensorDataset extends DatasetCommon {
  readonly kind: 'tensor';
  /** count × C × H × W uint8; the model input is pixel / 255 (no mean/std, as DomainBed's MNIST). */
  readonly images: Uint8Array;
  /** Fixed seed of domain membership and any label/colour noise (independent of the run). */
  readonly dataSeed: number;
  readonly params: Readonly<Record<string, unknown>>;
  readonly source: { readonly description: string; readonly hash: string };
  /** Where the built dataset is cached, and whether this open was a cache hit. */
  readonly cache: { readonly path: string; readonly hit: boolean } | null;
}

export interface FolderDataset extends DatasetCommon {
  readonly kind: 'folder';
  readonly root: string;
  /** Decodable image files, domain-major, classes and file names sorted (torchvision ImageFolder order). */
  readonly files: readonly string[];
  /** Files that could not be decoded and were left out (strict mode throws instead). */
  readonly skipped: readonly { readonly file: string; readonly reason: string }[];
}

export type DomainDataset = TensorDataset | FolderDataset;

export function domainSize(ds: DomainDataset, d: number): number {
  return ds.offsets[d + 1] - ds.offsets[d];
}

export function sampleCount(ds: DomainDataset): number {
  return ds.offsets[ds.offsets.length - 1];
}

/** Offsets [0, n0, n0+n1, ...] from per-domain sizes. */
export function offsetsFromSizes(sizes: readonly number[]): Int32Array {
  const o = new Int32Array(sizes.length + 1);
  sizes.forEach((n, i) => (o[i + 1] = o[i] + n));
  return o;
}

/**
 * An in-memory tensor dataset from arrays (e.g. auxiliary tasks the pipeline derives from
 * Fashion-MNIST); it is not cached. Checks that the arrays agree with each other.
 */
export function makeTensorDataset(a: {
  name: string;
  domainbedName?: string;
  domains: readonly string[];
  classes: readonly string[];
  shape: Shape3;
  images: Uint8Array;
  labels: Int32Array;
  offsets: Int32Array;
  dataSeed?: number;
  params?: Record<string, unknown>;
  source?: string;
}): TensorDataset {
  const count = a.labels.length;
  const per = a.shape[0] * a.shape[1] * a.shape[2];
  if (a.images.length !== count * per) throw new RangeError(`${a.name}: ${a.images.length} pixels for ${count} samples of [${a.shape.join(', ')}]`);
  if (a.offsets.length !== a.domains.length + 1 || a.offsets[0] !== 0 || a.offsets[a.domains.length] !== count) {
    throw new RangeError(`${a.name}: offsets must run from 0 to ${count} over ${a.domains.length} domains`);
  }
  for (let d = 0; d < a.domains.length; d++) if (a.offsets[d + 1] < a.offsets[d]) throw new RangeError(`${a.name}: offsets decrease at domain ${d}`);
  for (let i = 0; i < count; i++) {
    if (!(a.labels[i] >= 0 && a.labels[i] < a.classes.length)) throw new RangeError(`${a.name}: label ${a.labels[i]} at ${i} outside 0..${a.classes.length - 1}`);
  }
  return {
    kind: 'tensor',
    name: a.name,
    domainbedName: a.domainbedName ?? a.name,
    domains: a.domains,
    classes: a.classes,
    shape: a.shape,
    images: a.images,
    labels: a.labels,
    offsets: a.offsets,
    dataSeed: a.dataSeed ?? 0,
    params: a.params ?? {},
    source: { description: a.source ?? 'in memory', hash: '' },
    cache: null,
  };
}

/** A summary for `data info` and run records. */
export function describeDataset(ds: DomainDataset) {
  return {
    name: ds.name,
    domainbedName: ds.domainbedName,
    kind: ds.kind,
    shape: [...ds.shape],
    classes: [...ds.classes],
    domains: ds.domains.map((name, d) => ({ name, size: domainSize(ds, d) })),
    total: sampleCount(ds),
    ...(ds.kind === 'tensor'
      ? { dataSeed: ds.dataSeed, params: ds.params, source: ds.source.description, sourceHash: ds.source.hash, cache: ds.cache }
      : { root: ds.root, skipped: ds.skipped }),
  };
}
