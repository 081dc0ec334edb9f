// `ratatouille bench optim`: fused SGD-momentum and Adam steps over N fp32 parameters split into
// transformer-like tensors, in GB/s, against two baselines measured in the same run: a STREAM
// triad (the machine's memory bandwidth) and the plain TypeScript loop. Optionally the CUDA
// kernels against a device triad. Medians of repeats after a warm-up.
import { Command } from 'commander';
import { native, type AdamGroupArgs, type SgdGroupArgs } from '../../bindings/native.js';
import { parseCount, parseIntOption } from '../cli/options.js';
import { adamStepTs, sgdStepTs } from '../train/optim.js';
import { median } from './stats.js';

/** Bytes a step moves per parameter: SGD-momentum reads p, g, buf and writes p, buf; Adam reads p, g, m, v and writes p, m, v. */
export const SGD_BYTES_PER_PARAM = 20;
export const ADAM_BYTES_PER_PARAM = 28;

export interface OptimBenchOptions {
  params: number;
  /** CPU threads (default: all cores). */
  threads?: number;
  repeats: number;
  /** Repeats of the (slow) TypeScript loop. */
  tsRepeats: number;
  /** Bytes of each triad array. */
  triadBytes: number;
  cuda: boolean;
}

export interface Rate {
  ms: number;
  gbs: number;
}

export interface OptimBenchKernel {
  bytesPerParam: number;
  native: Rate;
  typescript: Rate;
  /** native GB/s over triad GB/s (medians). */
  ofTriad: number;
  /** native GB/s over TypeScript-loop GB/s. */
  vsTypescript: number;
  cuda?: Rate & { ofTriad: number };
}

export interface OptimBenchResult {
  params: number;
  tensors: number;
  threads: number;
  cpuLevel: string;
  repeats: number;
  triad: { gbs: number; bestGBs: number; arrayBytes: number; nonTemporal: boolean };
  sgd: OptimBenchKernel;
  adam: OptimBenchKernel;
  cuda?: { device: string; triad: { gbs: number; bestGBs: number; arrayBytes: number } };
}

/**
 * Tensor sizes of transformer blocks (qkv, proj, two MLP matrices, their biases, two layer norms)
 * with width d ~ sqrt(total/24), repeated until `total`; the last tensor takes the remainder.
 */
export function transformerLikeSizes(total: number): number[] {
  const d = Math.min(4096, Math.max(64, Math.floor(Math.sqrt(total / 24) / 64) * 64));
  const block = [3 * d * d, 3 * d, d * d, d, 4 * d * d, 4 * d, 4 * d * d, d, d, d, d, d];
  const sizes: number[] = [];
  for (let left = total, i = 0; left > 0; i++) {
    const s = Math.min(left, block[i % block.length]);
    sizes.push(s);
    left -= s;
  }
  return sizes;
}


/** Median milliseconds of `repeats` calls after `warmup` calls. */
function timeMs(fn: () => void, warmup: number, repeats: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

function rate(ms: number, bytes: number): Rate {
  return { ms, gbs: bytes / (ms * 1e-3) / 1e9 };
}

function filled(n: number, seed: number, scale: number): Float32Array {
  // A cheap LCG: the values only need to be finite and varied.
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * scale;
  }
  return a;
}

export function runOptimBench(o: OptimBenchOptions): OptimBenchResult {
  const n = native();
  const threadsBefore = n.info().threads;
  if (o.threads !== undefined) n.setThreads(o.threads);
  try {
    const sizes = transformerLikeSizes(o.params);
    const params = sizes.map((s, i) => filled(s, i + 1, 2));
    const grads = sizes.map((s, i) => filled(s, 1000 + i, 0.02));
    const zeros = () => sizes.map((s) => new Float32Array(s));
    const sgdArgs: SgdGroupArgs[] = [
      { params, grads, momentumBuffers: zeros(), lr: 1e-4, momentum: 0.9, dampening: 0, weightDecay: 1e-4, firstStep: false },
    ];
    let step = 1;
    const adamArgs = (): AdamGroupArgs[] => [
      { params, grads, expAvg, expAvgSq, step: step++, lr: 1e-5, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled: true },
    ];
    const expAvg = zeros(), expAvgSq = zeros();

    const sgdBytes = SGD_BYTES_PER_PARAM * o.params;
    const adamBytes = ADAM_BYTES_PER_PARAM * o.params;
    // Rounds interleave one triad pass, one SGD step and one Adam step, so that load changes on
    // a shared machine hit the kernels and their baseline alike; medians over the rounds.
    const sgdStep = () => n.sgdStep(sgdArgs);
    const adamStep = () => n.adamStep(adamArgs());
    for (let i = 0; i < 2; i++) sgdStep(), adamStep();  // warm-up: page faults, pool start
    const triadGBs: number[] = [], sgdMs: number[] = [], adamMs: number[] = [];
    let triadInfo = { arrayBytes: 0, nonTemporal: true };
    for (let r = 0; r < o.repeats; r++) {
      const t = n.memoryBandwidth({ arrayBytes: o.triadBytes, repeats: 1 });
      triadGBs.push(t.gbs);
      triadInfo = { arrayBytes: t.arrayBytes, nonTemporal: t.nonTemporal ?? true };
      sgdMs.push(timeMs(sgdStep, 0, 1));
      adamMs.push(timeMs(adamStep, 0, 1));
    }
    const triad = { gbs: median(triadGBs), bestGBs: Math.max(...triadGBs), ...triadInfo };
    const sgdNative = rate(median(sgdMs), sgdBytes);
    const adamNative = rate(median(adamMs), adamBytes);
    const sgdTs = rate(timeMs(() => sgdStepTs(sgdArgs), 1, o.tsRepeats), sgdBytes);
    const adamTs = rate(timeMs(() => adamStepTs(adamArgs()), 1, o.tsRepeats), adamBytes);

    const kernel = (bytesPerParam: number, nat: Rate, ts: Rate): OptimBenchKernel => ({
      bytesPerParam,
      native: nat,
      typescript: ts,
      ofTriad: nat.gbs / triad.gbs,
      vsTypescript: nat.gbs / ts.gbs,
    });
    const result: OptimBenchResult = {
      params: o.params,
      tensors: sizes.length,
      threads: n.info().threads,
      cpuLevel: n.info().cpuLevel,
      repeats: o.repeats,
      triad,
      sgd: kernel(SGD_BYTES_PER_PARAM, sgdNative, sgdTs),
      adam: kernel(ADAM_BYTES_PER_PARAM, adamNative, adamTs),
    };

    if (o.cuda) {
      // Device triad arrays far beyond the GPU's L2 (50 MB on H100).
      const gt = n.memoryBandwidth({ device: 'cuda', arrayBytes: Math.max(o.triadBytes, 256 << 20), repeats: o.repeats });
      const steps = o.repeats + 2;
      const s = n.cudaSgdSteps(sgdArgs, { steps });
      const a = n.cudaAdamSteps(adamArgs(), { steps });
      const sr = rate(s.medianMs, sgdBytes), ar = rate(a.medianMs, adamBytes);
      result.sgd.cuda = { ...sr, ofTriad: sr.gbs / gt.medianGBs };
      result.adam.cuda = { ...ar, ofTriad: ar.gbs / gt.medianGBs };
      result.cuda = { device: s.device, triad: { gbs: gt.medianGBs, bestGBs: gt.gbs, arrayBytes: gt.arrayBytes } };
    }
    return result;
  } finally {
    n.setThreads(threadsBefore);
  }
}

function fmt(x: number, digits = 1): string {
  return x.toFixed(x < 10 ? digits + 1 : digits);
}

export function formatOptimBench(r: OptimBenchResult): string {
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  const lines = [
    `optim step: ${(r.params / 1e6).toFixed(1)}M fp32 params in ${r.tensors} tensors, ${r.threads} thread${r.threads === 1 ? '' : 's'}, ${r.cpuLevel} kernels, median of ${r.repeats}`,
    `triad (STREAM, 3 x ${mib(r.triad.arrayBytes)}${r.triad.nonTemporal ? ', streaming stores' : ''}): ${fmt(r.triad.gbs)} GB/s (best ${fmt(r.triad.bestGBs)})`,
  ];
  for (const [name, k] of [['SGD-momentum', r.sgd], ['Adam(W)', r.adam]] as const) {
    lines.push(
      `${name.padEnd(13)} native ${fmt(k.native.gbs).padStart(6)} GB/s ${fmt(k.native.ms, 2).padStart(8)} ms/step  = ${k.ofTriad.toFixed(2)}x triad, ${fmt(k.vsTypescript)}x the TS loop`,
      `${''.padEnd(13)} TS     ${fmt(k.typescript.gbs).padStart(6)} GB/s ${fmt(k.typescript.ms, 2).padStart(8)} ms/step  (${k.bytesPerParam} B/param)`,
    );
    if (k.cuda) lines.push(`${''.padEnd(13)} CUDA   ${fmt(k.cuda.gbs).padStart(6)} GB/s ${fmt(k.cuda.ms, 3).padStart(8)} ms/step  = ${k.cuda.ofTriad.toFixed(2)}x device triad`);
  }
  if (r.cuda) lines.push(`cuda: ${r.cuda.device}; device triad ${fmt(r.cuda.triad.gbs)} GB/s (best ${fmt(r.cuda.triad.bestGBs)}, 3 x ${mib(r.cuda.triad.arrayBytes)})`);
  return lines.join('\n') + '\n';
}

export function optimBenchCommand(): Command {
  return new Command('optim')
    .description('fused SGD-momentum and Adam steps in GB/s vs a STREAM triad and the plain TypeScript loop (same run)')
    .option('--params <count>', 'fp32 parameters, split into transformer-like tensors (e.g. 16M)', '16M')
    .option('--threads <n>', 'CPU threads (default: all cores)')
    .option('--repeats <n>', 'timed native steps and triad passes (median)', '10')
    .option('--ts-repeats <n>', 'timed TypeScript-loop steps (median)', '3')
    .option('--triad-mib <n>', 'MiB of each triad array', '64')
    .option('--cuda', 'also time the CUDA kernels and a device triad (needs a GPU)')
    .option('--json', 'print the numbers as JSON on stdout')
    .action((opts: { params: string; threads?: string; repeats: string; tsRepeats: string; triadMib: string; cuda?: boolean; json?: boolean }) => {
      const r = runOptimBench({
        params: parseCount('--params', opts.params),
        threads: opts.threads === undefined ? undefined : parseIntOption('--threads', opts.threads, 1, 256),
        repeats: parseIntOption('--repeats', opts.repeats, 1, 1000),
        tsRepeats: parseIntOption('--ts-repeats', opts.tsRepeats, 1, 1000),
        triadBytes: parseIntOption('--triad-mib', opts.triadMib, 1, 16384) * 2 ** 20,
        cuda: opts.cuda === true,
      });
      process.stdout.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : formatOptimBench(r));
    });
}
