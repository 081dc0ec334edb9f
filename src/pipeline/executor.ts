// The local worker pool: trainings run side by side, each in its own worker thread
// (runJobInWorker, ORT threads = cores / workers), in submission order. Resumable: a run whose
// outDir holds result.json for the same job and a `done` marker (or a final 'diverged' status) is
// not run again; anything else is rerun from scratch (the trainer clears a previous attempt).
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { DomainDataset } from '../data/index.js';
import { isInputError } from '../errors.js';
import { OUTPUTS } from '../train/checkpoint.js';
import { jobRecord, parseJob, type TrainJob, type TrainJobInput } from '../train/job.js';
import type { RunResult, TrainProgress } from '../train/trainer.js';
import { runJob } from '../train/trainer.js';
import { runJobInWorker } from '../train/worker.js';
import type { ProgressSink } from './progress.js';

export type Outcome =
  | { readonly status: 'done' | 'diverged'; readonly result: RunResult; readonly resumed: boolean }
  | { readonly status: 'failed'; readonly reason: string; readonly job: TrainJob };

/** Canonical JSON (sorted keys) for comparing jobs. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The stored result of a finished run of exactly this job, or null. */
export function finishedResult(job: TrainJob): RunResult | null {
  const resultFile = join(job.outDir, OUTPUTS.result);
  if (!existsSync(resultFile)) return null;
  let r: RunResult;
  try {
    r = JSON.parse(readFileSync(resultFile, 'utf8')) as RunResult;
  } catch {
    return null;
  }
  const final = r.status === 'diverged' || (r.status === 'done' && existsSync(join(job.outDir, OUTPUTS.done)));
  if (!final || canonicalJson(jobRecord(parseJob(r.job))) !== canonicalJson(jobRecord(job))) return null;
  return r;
}

export interface PoolOptions {
  /** Trainings at once; 0 runs them in this thread, one at a time (debugging). */
  readonly workers: number;
  /** ORT threads per training (default: cores / workers, at least 1). */
  readonly threads?: number;
  readonly progress: ProgressSink;
  readonly signal?: AbortSignal;
}

interface Pending {
  readonly job: TrainJob;
  readonly label: string;
  readonly dataset?: DomainDataset;
  readonly resolve: (o: Outcome) => void;
  readonly reject: (e: unknown) => void;
}

export class JobPool {
  readonly threads: number;
  private readonly queue: Pending[] = [];
  private readonly running = new Map<string, { label: string; step: number; steps: number }>();
  private active = 0;
  private done = 0;
  private total = 0;
  private stepsDone = 0;
  private stepsTotal = 0;
  private trainSeconds0: number | null = null;

  constructor(private readonly o: PoolOptions) {
    this.threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / Math.max(1, o.workers)));
  }

  /** The job with this pool's thread count (what is recorded and compared on resume). */
  prepare(input: TrainJobInput): TrainJob {
    return parseJob({ ...input, threads: this.threads });
  }

  /** Queues a run; resolves when it finished (now, if a previous invocation already finished it). */
  submit(input: TrainJobInput, label: string, dataset?: DomainDataset): Promise<Outcome> {
    const job = this.prepare(input);
    const prior = finishedResult(job);
    if (prior) return Promise.resolve({ status: prior.status as 'done' | 'diverged', result: prior, resumed: true });
    this.total++;
    this.stepsTotal += job.hparams.steps;
    const outcome = new Promise<Outcome>((resolve, reject) => {
      this.queue.push({ job, label, dataset, resolve, reject });
      this.pump();
    });
    outcome.catch(() => {}); // a rejection surfaces where the caller awaits it, not as an unhandled one
    return outcome;
  }

  private status(): void {
    const secs = this.trainSeconds0 === null ? 0 : (performance.now() - this.trainSeconds0) / 1000;
    const inFlight = [...this.running.values()].reduce((a, r) => a + r.step, 0);
    this.o.progress.runs({
      done: this.done,
      total: this.total,
      running: [...this.running.values()],
      stepsDone: this.stepsDone + inFlight,
      stepsTotal: this.stepsTotal,
      stepsPerSec: secs > 0 ? (this.stepsDone + inFlight) / secs : 0,
    });
  }

  private pump(): void {
    const limit = Math.max(1, this.o.workers);
    while (this.active < limit && this.queue.length) {
      const p = this.queue.shift()!;
      this.active++;
      this.trainSeconds0 ??= performance.now();
      void this.execute(p);
    }
  }

  private async execute(p: Pending): Promise<void> {
    const key = p.job.outDir;
    this.running.set(key, { label: p.label, step: 0, steps: p.job.hparams.steps });
    const onProgress = (e: TrainProgress) => {
      if (e.kind !== 'step') return;
      this.running.set(key, { label: p.label, step: e.step + 1, steps: e.steps });
      this.status();
    };
    try {
      const result =
        this.o.workers === 0
          ? await runJob(p.job, { dataset: p.dataset, onProgress, signal: this.o.signal })
          : await runJobInWorker(p.job, { dataset: p.dataset, onProgress, signal: this.o.signal });
      p.resolve({ status: result.status, result, resumed: false });
    } catch (e) {
      if (isInputError(e) || this.o.signal?.aborted) p.reject(e);
      else p.resolve({ status: 'failed', reason: (e as Error)?.message ?? String(e), job: p.job });
    } finally {
      this.running.delete(key);
      this.stepsDone += p.job.hparams.steps;
      this.done++;
      this.active--;
      this.status();
      this.pump();
    }
  }
}
