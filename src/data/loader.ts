// Batches as ready model inputs: x [B, C, H, W] float32 and y int64, filled into two
// preallocated buffers. While the caller trains on one, the next is filled (tensor data on
// the main thread between awaits, folder data by the decode pool), so a batch returned by
// next() stays valid until the following call to next(). No per-sample objects are made.
import { InputError } from '../errors.js';
import { RandomState } from '../util/numpy-random.js';
import { seedHash } from '../util/seed.js';
import type { DomainDataset, FolderDataset, TensorDataset } from './dataset.js';
import { createImageDecoder, type ImageDecoder } from './decode-pool.js';

export interface Batch {
  readonly x: Float32Array;
  readonly y: BigInt64Array;
  readonly shape: readonly [batch: number, channels: number, height: number, width: number];
  /** Global sample index of each row (domain d owns [offsets[d], offsets[d+1])). */
  readonly index: Int32Array;
}

export interface BatchStream extends AsyncIterable<Batch> {
  /** The next batch, or null when a finite stream is exhausted. Await each call before the next. */
  next(): Promise<Batch | null>;
  /** Rows per full batch. */
  readonly batchSize: number;
}

export interface TrainStreamOptions {
  /** Training domains (indices into dataset.domains), in concatenation order. */
  readonly domains: readonly number[];
  /** Per-domain pools of global indices to draw from (usually the in-splits), one per entry of `domains`. */
  readonly pools: readonly Int32Array[];
  readonly batchSizePerDomain: number;
  /** Seeds the index draws (RandomState(runSeed)) and, for folders, augmentation (seed_hash(runSeed, 'augment')). */
  readonly runSeed: number;
  /** Folder datasets: apply the training augmentation (default true, as DomainBed). Ignored for tensor data. */
  readonly augment?: boolean;
  /**
   * Tensor datasets: translate each training image by up to this many pixels in each direction,
   * filling with black (torchvision's RandomCrop(size, padding=shift)); default 0. Folder datasets
   * have their own augmentation and reject it.
   */
  readonly shift?: number;
}

export interface IndexStreamOptions {
  readonly batchSize?: number;
  /** Folder datasets: augment with per-sample seeds drawn from RandomState(augmentSeed); default: test transform. */
  readonly augmentSeed?: number | null;
}

export interface DataLoader {
  readonly dataset: DomainDataset;
  /** Endless stream: each batch concatenates batchSizePerDomain draws with replacement from each pool. */
  trainStream(opts: TrainStreamOptions): BatchStream;
  /** Finite stream over `indices` (global) in order, in batches of batchSize (default 64). */
  indexStream(indices: Int32Array, opts?: IndexStreamOptions): BatchStream;
  /** Stops the decode workers (folder datasets). */
  close(): Promise<void>;
}

export interface LoaderOptions {
  /** Decode worker threads for folder datasets (default: cores − 1, at most 4); 0 = in-process. */
  readonly workers?: number;
}

/** Where a batch's rows come from; a plan is filled into the buffers. */
interface Plan {
  count: number;
  index: Int32Array;
  seeds: number[] | null;
  /** Tensor data: per-row (dy, dx) offsets, interleaved; null = unshifted. */
  shifts: Int16Array | null;
}

type Fill = (plan: Plan, x: Float32Array) => Promise<void> | void;

function tensorFill(ds: TensorDataset): Fill {
  const per = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = v / 255;
  const images = ds.images;
  const [channels, height, width] = ds.shape;
  return (plan, x) => {
    for (let r = 0; r < plan.count; r++) {
      const s = plan.index[r] * per;
      const d = r * per;
      if (!plan.shifts) {
        for (let k = 0; k < per; k++) x[d + k] = lut[images[s + k]];
        continue;
      }
      // Output pixel (i, j) reads source (i + dy, j + dx): RandomCrop's crop of the padded image at
      // top = shift + dy, left = shift + dx. Outside the source is the zero padding.
      const dy = plan.shifts[2 * r];
      const dx = plan.shifts[2 * r + 1];
      const j0 = Math.max(0, -dx);
      const j1 = Math.min(width, width - dx);
      for (let c = 0; c < channels; c++) {
        for (let i = 0; i < height; i++) {
          const row = d + (c * height + i) * width;
          const si = i + dy;
          if (si < 0 || si >= height) {
            x.fill(0, row, row + width);
            continue;
          }
          const src = s + (c * height + si) * width + dx;
          x.fill(0, row, row + j0);
          for (let j = j0; j < j1; j++) x[row + j] = lut[images[src + j]];
          x.fill(0, row + j1, row + width);
        }
      }
    }
  };
}

function folderFill(ds: FolderDataset, decoder: ImageDecoder): Fill {
  return (plan, x) => {
    const files = new Array<string>(plan.count);
    for (let r = 0; r < plan.count; r++) files[r] = ds.files[plan.index[r]];
    return decoder.decode(files, plan.seeds, x);
  };
}

class PrefetchStream implements BatchStream {
  private readonly x: Float32Array[];
  private readonly y: BigInt64Array[];
  private readonly index: Int32Array[];
  private slot = 0;
  private pending: Promise<Batch | null> | null = null;
  private readonly per: number;

  constructor(
    private readonly ds: DomainDataset,
    readonly batchSize: number,
    private readonly plan: (index: Int32Array) => Plan | null,
    private readonly fill: Fill,
    private readonly deferSync: boolean,
  ) {
    this.per = ds.shape[0] * ds.shape[1] * ds.shape[2];
    this.x = [0, 1].map(() => new Float32Array(batchSize * this.per));
    this.y = [0, 1].map(() => new BigInt64Array(batchSize));
    this.index = [0, 1].map(() => new Int32Array(batchSize));
  }

  private async produce(): Promise<Batch | null> {
    const s = this.slot;
    this.slot ^= 1;
    const p = this.plan(this.index[s]);
    if (!p) return null;
    const x = this.x[s].subarray(0, p.count * this.per);
    if (this.deferSync) await new Promise<void>((r) => setImmediate(r)); // let the caller's step start first
    await this.fill(p, x);
    const y = this.y[s].subarray(0, p.count);
    for (let r = 0; r < p.count; r++) y[r] = BigInt(this.ds.labels[p.index[r]]);
    const [c, h, w] = this.ds.shape;
    return { x, y, shape: [p.count, c, h, w], index: this.index[s].subarray(0, p.count) };
  }

  async next(): Promise<Batch | null> {
    const current = this.pending ?? this.produce();
    this.pending = null;
    const batch = await current;
    if (batch) {
      this.pending = this.produce();
      this.pending.catch(() => {}); // surfaced by the following next()
    }
    return batch;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    for (let b = await this.next(); b; b = await this.next()) yield b;
  }
}

/** Rejects a TrainStreamOptions.shift the dataset cannot take (callers check before writing anything); `where` names it in the error. */
export function checkShift(ds: DomainDataset, shift: number, where = 'shift'): void {
  const most = Math.min(ds.shape[1], ds.shape[2]) - 1;
  if (!Number.isInteger(shift) || shift < 0 || shift > most) throw new InputError(where, `must be an integer from 0 to ${most} pixels, got ${shift}`);
  if (shift > 0 && ds.kind === 'folder') throw new InputError(where, 'image folders have their own training augmentation; shift is for tensor datasets');
}

export function createLoader(ds: DomainDataset, opts: LoaderOptions = {}): DataLoader {
  let decoder: ImageDecoder | null = null;
  const fill = ds.kind === 'tensor' ? tensorFill(ds) : folderFill(ds, (decoder = createImageDecoder(ds.shape[1], opts.workers)));
  const augmentable = ds.kind === 'folder';

  return {
    dataset: ds,
    trainStream(o: TrainStreamOptions): BatchStream {
      if (o.domains.length === 0 || o.domains.length !== o.pools.length) {
        throw new InputError('trainStream', `need one index pool per training domain (${o.domains.length} domains, ${o.pools.length} pools)`);
      }
      if (!Number.isInteger(o.batchSizePerDomain) || o.batchSizePerDomain < 1) throw new InputError('batch size', `must be a positive integer, got ${o.batchSizePerDomain}`);
      o.pools.forEach((p, i) => {
        if (p.length === 0) throw new InputError(`domain ${ds.domains[o.domains[i]]}`, 'no samples to draw training batches from');
      });
      const rs = new RandomState(o.runSeed >>> 0);
      const shift = o.shift ?? 0;
      checkShift(ds, shift);
      const augRs = augmentable && o.augment !== false ? new RandomState(seedHash(o.runSeed, 'augment')) : null;
      const shiftRs = shift > 0 ? new RandomState(seedHash(o.runSeed, 'shift')) : null;
      const bs = o.batchSizePerDomain;
      const total = bs * o.domains.length;
      const seeds: number[] | null = augRs ? new Array<number>(total) : null;
      const shifts = shiftRs ? new Int16Array(2 * total) : null;
      const plan = (index: Int32Array): Plan => {
        for (let d = 0; d < o.pools.length; d++) {
          const pool = o.pools[d];
          for (let k = 0; k < bs; k++) index[d * bs + k] = pool[rs.randint(0, pool.length)];
        }
        if (seeds) for (let r = 0; r < total; r++) seeds[r] = augRs!.nextUint32();
        if (shifts) for (let k = 0; k < 2 * total; k++) shifts[k] = shiftRs!.randint(-shift, shift + 1);
        return { count: total, index, seeds, shifts };
      };
      return new PrefetchStream(ds, total, plan, fill, ds.kind === 'tensor');
    },
    indexStream(indices: Int32Array, o: IndexStreamOptions = {}): BatchStream {
      const bs = o.batchSize ?? 64;
      if (!Number.isInteger(bs) || bs < 1) throw new InputError('batch size', `must be a positive integer, got ${bs}`);
      const augRs = augmentable && o.augmentSeed != null ? new RandomState(o.augmentSeed >>> 0) : null;
      const seeds: number[] | null = augRs ? new Array<number>(bs) : null;
      let at = 0;
      const plan = (index: Int32Array): Plan | null => {
        if (at >= indices.length) return null;
        const count = Math.min(bs, indices.length - at);
        index.set(indices.subarray(at, at + count));
        at += count;
        if (seeds) for (let r = 0; r < count; r++) seeds[r] = augRs!.nextUint32();
        return { count, index, seeds: seeds ? seeds.slice(0, count) : null, shifts: null };
      };
      return new PrefetchStream(ds, bs, plan, fill, ds.kind === 'tensor');
    },
    async close() {
      await decoder?.close();
    },
  };
}
