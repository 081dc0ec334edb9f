// Reads onnxruntime's profiler output (a session created with SessionOptions.profile) and says
// where a step's time goes: kernel time per op type, per layer, and forward vs backward (backward
// nodes are the ones autodiff names `<node>/grad/...` or `grad.<param>`; ORT keeps those names,
// adding suffixes, when it fuses nodes).
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface ProfileEntry {
  name: string;
  /** Mean kernel milliseconds per run. */
  ms: number;
  share: number;
}

export interface ProfileSummary {
  runs: number;
  /** Mean of ORT's own `model_run` time per run (includes scheduling between kernels). */
  runMs: number;
  kernelMs: number;
  forwardMs: number;
  backwardMs: number;
  byOp: ProfileEntry[];
  /** By the layer a node belongs to (e.g. featurizer.conv3), forward and backward together. */
  byLayer: ProfileEntry[];
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string };
}

/** The layer of a node: the IR node name before any `/` (ORT's fusions append suffixes there). */
function layerOf(node: string): string {
  const base = node.startsWith('grad.') ? node.slice(5).replace(/\.(weight|bias)$/, '') : node.split('/')[0];
  return base.replace(/_(nchwc|token_\d+)$/, '');
}

function ranked(m: Map<string, number>, runs: number, total: number): ProfileEntry[] {
  return [...m].map(([name, us]) => ({ name, ms: us / runs / 1000, share: us / total })).sort((a, b) => b.ms - a.ms);
}

/** Summarises a profile JSON file written by onnxruntime (chrome trace format). */
export function summarizeProfile(file: string, skipRuns = 0): ProfileSummary {
  const events = JSON.parse(readFileSync(file, 'utf8')) as TraceEvent[];
  const runs = events.filter((e) => e.name === 'model_run');
  const skip = runs.length > skipRuns ? skipRuns : 0;
  // Kernel events between the skipped runs' end and the rest belong to later runs; ORT emits
  // them in order, so drop the first `skip` runs' kernels by counting model_run boundaries.
  const byOp = new Map<string, number>(), byLayer = new Map<string, number>();
  let forward = 0, backward = 0, total = 0, seenRuns = 0;
  for (const e of events) {
    if (e.name === 'model_run') {
      seenRuns++;
      continue;
    }
    if (seenRuns < skip || e.cat !== 'Node' || !e.name?.endsWith('_kernel_time')) continue;
    const node = e.name.slice(0, -'_kernel_time'.length), us = e.dur ?? 0, op = e.args?.op_name ?? '?';
    byOp.set(op, (byOp.get(op) ?? 0) + us);
    byLayer.set(layerOf(node), (byLayer.get(layerOf(node)) ?? 0) + us);
    if (node.includes('/grad/') || node.startsWith('grad.')) backward += us;
    else forward += us;
    total += us;
  }
  const n = Math.max(1, runs.length - skip);
  const runUs = runs.slice(skip).reduce((a, e) => a + (e.dur ?? 0), 0);
  return {
    runs: n,
    runMs: runUs / n / 1000,
    kernelMs: total / n / 1000,
    forwardMs: forward / n / 1000,
    backwardMs: backward / n / 1000,
    byOp: ranked(byOp, n, total),
    byLayer: ranked(byLayer, n, total),
  };
}

/**
 * The profile file onnxruntime wrote for `prefix` (it appends a timestamp); summarised, then
 * deleted so profiling leaves nothing behind.
 */
export function takeProfile(prefix: string, skipRuns = 0): ProfileSummary {
  const dir = dirname(prefix), stem = basename(prefix);
  const files = readdirSync(dir).filter((f) => f.startsWith(stem) && f.endsWith('.json'));
  if (files.length !== 1) throw new Error(`profile ${prefix}: expected one file, found ${files.length}`);
  const file = join(dir, files[0]);
  try {
    return summarizeProfile(file, skipRuns);
  } finally {
    rmSync(file, { force: true });
  }
}
