// Parallel image decoding for folder datasets: a batch's files are split into contiguous
// chunks over worker threads (JS colour ops run off the main thread; sharp's decode runs on
// libuv threads either way). `workers: 0` decodes in-process. Results are identical both
// ways because every sample's augmentation comes from its own seed.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { InputError } from '../errors.js';
import type { DecodeReply, DecodeRequest } from './folder-worker.js';
import { loadImageSample } from './image-transform.js';
import { startWorker } from './ts-worker.js';

export interface ImageDecoder {
  readonly workers: number;
  /** Decodes files[k] (augmented with seeds[k] when seeds is given) into out[k·3·S·S ...]. */
  decode(files: readonly string[], seeds: readonly number[] | null, out: Float32Array): Promise<void>;
  close(): Promise<void>;
}

/** One fewer than the cores (the main thread feeds the trainer), at least 1, at most 4. */
export function defaultDecodeWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

class InProcessDecoder implements ImageDecoder {
  readonly workers = 0;
  constructor(private readonly size: number) {}
  async decode(files: readonly string[], seeds: readonly number[] | null, out: Float32Array): Promise<void> {
    const per = 3 * this.size * this.size;
    await Promise.all(files.map((f, k) => loadImageSample(f, this.size, seeds ? seeds[k] : null, out.subarray(k * per, (k + 1) * per))));
  }
  async close(): Promise<void> {}
}

interface Pending {
  resolve: (x: Float32Array) => void;
  reject: (e: Error) => void;
  worker: Worker;
}

class WorkerDecoder implements ImageDecoder {
  private readonly pool: Worker[];
  private readonly pending = new Map<number, Pending>();
  private readonly busy = new Map<Worker, number>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor(
    private readonly size: number,
    readonly workers: number,
  ) {
    this.pool = Array.from({ length: workers }, () => {
      const w = startWorker(new URL('./folder-worker.js', import.meta.url));
      w.unref(); // an idle pool never holds the process open
      w.on('message', (m: DecodeReply) => this.onReply(m));
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        if (this.pool.includes(w) && code !== 0) this.fail(new Error(`decode worker exited with code ${code}`));
      });
      return w;
    });
  }

  private onReply(m: DecodeReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    this.release(p.worker);
    if ('x' in m) p.resolve(m.x);
    else p.reject(m.error.input ? new InputError(m.error.where, m.error.problem) : new Error(m.error.problem));
  }

  private fail(e: Error): void {
    this.failure = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private acquire(w: Worker): void {
    const n = (this.busy.get(w) ?? 0) + 1;
    this.busy.set(w, n);
    if (n === 1) w.ref();
  }

  private release(w: Worker): void {
    const n = (this.busy.get(w) ?? 1) - 1;
    this.busy.set(w, n);
    if (n === 0) w.unref();
  }

  private request(w: Worker, req: DecodeRequest): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject, worker: w });
      this.acquire(w);
      w.postMessage(req);
    });
  }

  async decode(files: readonly string[], seeds: readonly number[] | null, out: Float32Array): Promise<void> {
    if (this.failure) throw this.failure;
    const per = 3 * this.size * this.size;
    const chunk = Math.ceil(files.length / this.pool.length);
    const jobs: Promise<void>[] = [];
    for (let w = 0, start = 0; start < files.length; w++, start += chunk) {
      const end = Math.min(files.length, start + chunk);
      const req: DecodeRequest = { id: this.nextId++, files: files.slice(start, end), seeds: seeds ? seeds.slice(start, end) : null, size: this.size };
      jobs.push(this.request(this.pool[w], req).then((x) => out.set(x, start * per)));
    }
    await Promise.all(jobs);
  }

  async close(): Promise<void> {
    const pool = this.pool.splice(0);
    this.fail(new Error('image decoder closed'));
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

export function createImageDecoder(size: number, workers = defaultDecodeWorkers()): ImageDecoder {
  return workers <= 0 ? new InProcessDecoder(size) : new WorkerDecoder(size, workers);
}
