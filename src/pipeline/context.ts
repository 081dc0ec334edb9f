// What every stage shares: the validated config, the run directory layout, the worker pool and
// the progress sink, plus the pretraining source derived from the config (models: models.ts).
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { writeFileAtomic } from '../io/atomic.js';
import { InputError } from '../errors.js';
import type { PipelineConfig } from './config.js';
import { JobPool } from './executor.js';
import { RunLayout } from './layout.js';
import type { ProgressSink } from './progress.js';
import { datasetSource, type TaskSource } from './tasks.js';

export interface PipelineContext {
  readonly config: PipelineConfig;
  readonly layout: RunLayout;
  readonly pool: JobPool;
  readonly progress: ProgressSink;
  /** ORT threads of main-thread work (features, scoring): every core, as it mostly runs alone. */
  readonly threads: number;
}

export function createContext(config: PipelineConfig, progress: ProgressSink, signal?: AbortSignal): PipelineContext {
  const layout = new RunLayout(config.runDir);
  const pool = new JobPool({ workers: config.workers, threads: config.threads, progress, signal });
  return { config, layout, pool, progress, threads: config.threads ? config.threads * Math.max(1, config.workers) : availableParallelism() };
}

/** Records the config in the run directory (once the inputs it names were checked): later commands start from it. */
export function saveConfig(ctx: PipelineContext): void {
  mkdirSync(ctx.layout.root, { recursive: true });
  writeFileAtomic(ctx.layout.config, JSON.stringify(ctx.config, null, 2) + '\n');
}

/** The pretraining images: Fashion-MNIST unless a target is built from it, then the digits. */
export function foundationSource(config: PipelineConfig): TaskSource {
  if (config.foundation.source !== 'auto') return config.foundation.source;
  const used = new Set(config.target.datasets.map(datasetSource));
  if (!used.has('fashion')) return 'fashion';
  if (!used.has('digits')) return 'digits';
  throw new InputError('config.foundation.source', `the targets (${config.target.datasets.join(', ')}) use both the digit and the Fashion-MNIST images, so no built-in pretraining task is disjoint from them; use one run directory per image family or give foundation.checkpoint`);
}
