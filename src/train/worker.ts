// Runs a TrainJob in a worker thread so the caller's event loop (progress bars, other workers)
// keeps moving while ORT blocks its own thread. Several can run side by side (one job each, with
// threads = cores / workers). Progress comes back as messages; failures as one-line errors.
import type { Worker } from 'node:worker_threads';
import type { DomainDataset } from '../data/index.js';
import { startWorker } from '../data/ts-worker.js';
import { InputError } from '../errors.js';
import { parseJob, type TrainJob, type TrainJobInput } from './job.js';
import type { RunResult, TrainProgress } from './trainer.js';

/** What the worker receives (structured-cloned). */
export interface WorkerInput {
  readonly job: TrainJob;
  readonly dataset?: DomainDataset;
}

/** Parent → worker. */
export type ParentMessage = { readonly type: 'cancel' };

/** How long a cancelled worker gets to stop at a step boundary before it is terminated. */
const CANCEL_GRACE_MS = 60_000;

export type WorkerMessage =
  | { readonly type: 'progress'; readonly progress: TrainProgress }
  | { readonly type: 'result'; readonly result: RunResult }
  | { readonly type: 'error'; readonly input: boolean; readonly where: string; readonly problem: string; readonly stack?: string };

export interface WorkerRunOptions {
  onProgress?: (p: TrainProgress) => void;
  /** An in-memory dataset (copied into the worker) instead of opening job.data.dataset there. */
  dataset?: DomainDataset;
  /**
   * Aborting stops the job at its next update or evaluation batch (no `done` marker; rerunning the
   * job starts over cleanly); the promise rejects once the worker has stopped writing.
   */
  signal?: AbortSignal;
}

/** runJob in a worker thread; resolves to the same RunResult, bit for bit the same outputs. */
export async function runJobInWorker(input: TrainJobInput | TrainJob, opts: WorkerRunOptions = {}): Promise<RunResult> {
  const job = parseJob(input); // bad jobs fail here, before a thread starts
  if (opts.signal?.aborted) throw new InputError('training', 'cancelled before it started');
  return new Promise<RunResult>((resolve, reject) => {
    let settled = false;
    let worker: Worker;
    let kill: NodeJS.Timeout | undefined;
    // Settles once; the worker is idle by then (its sessions released), so terminating is safe.
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(kill);
      opts.signal?.removeEventListener('abort', onAbort);
      f();
      void worker.terminate();
    };
    const onAbort = () => {
      worker.postMessage({ type: 'cancel' } satisfies ParentMessage);
      kill = setTimeout(
        () => finish(() => reject(new InputError('training', `cancelled (${job.outDir}); the worker did not stop within ${CANCEL_GRACE_MS / 1000} s and was terminated`))),
        CANCEL_GRACE_MS,
      );
    };
    try {
      worker = startWorker(new URL('./worker-entry.js', import.meta.url), { workerData: { job, dataset: opts.dataset } satisfies WorkerInput });
    } catch (e) {
      reject(e);
      return;
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') {
        if (!settled) opts.onProgress?.(m.progress);
      } else if (m.type === 'result') {
        finish(() => resolve(m.result));
      } else {
        const err = m.input ? new InputError(m.where, m.problem) : Object.assign(new Error(`training worker: ${m.problem}`), m.stack ? { workerStack: m.stack } : {});
        finish(() => reject(err));
      }
    });
    worker.on('error', (e) => finish(() => reject(new Error(`training worker: ${String(e?.message ?? e).split('\n')[0]}`))));
    worker.on('exit', (code) => finish(() => reject(new Error(`training worker exited with code ${code} before finishing (${job.outDir})`))));
  });
}
