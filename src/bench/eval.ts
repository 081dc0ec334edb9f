// `ratatouille bench eval`: images/s of inference for MNIST_CNN through onnxruntime-node (the
// exported model.onnx, weights as initializers, loaded the way `eval` loads it) against PyTorch
// CPU on the same network, weights, batch and threads (scripts/bench_eval_torch.py, spawned
// when a python with torch exists). The two alternate in rounds so they share machine drift,
// with an idle gap so neither side's spinning threads steal from the other; medians after
// warm-up. --variants also times other ORT session/graph forms in the same rounds.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import * as ort from 'onnxruntime-node';
import { loadOnnxClassifier } from '../eval/onnx-classifier.js';
import type { BatchShape, Predictor } from '../eval/predictor.js';
import { weightsPredictor } from '../eval/weights.js';
import { InputError } from '../errors.js';
import { buildModel, Rng, type Model } from '../graph/index.js';
import { parseChoice, parseIntOption } from '../cli/options.js';
import { emit, median } from './stats.js';

export interface EvalBenchOptions {
  readonly width: number;
  readonly batch: number;
  readonly threads: number;
  readonly rounds: number;
  /** Batches timed per side per round. */
  readonly iters: number;
  readonly warmup: number;
  /** Also time other ORT forms (optimisation levels, weights as inputs). */
  readonly variants: boolean;
  /** A python with torch (default: found on PATH or /usr/bin/python3); null skips PyTorch. */
  readonly python?: string | null;
}

export interface Rate {
  readonly name: string;
  readonly imagesPerSec: number;
  readonly msPerBatch: number;
}

export interface EvalBenchResult {
  readonly model: string;
  readonly width: number;
  readonly batch: number;
  readonly threads: number;
  readonly rounds: number;
  readonly iters: number;
  readonly onnxruntime: Rate & { readonly version: string };
  readonly variants: readonly Rate[];
  readonly torch: (Rate & { readonly version: string; readonly python: string; readonly maxAbsLogitDiff: number }) | null;
  /** onnxruntime images/s over PyTorch images/s (null when PyTorch was skipped). */
  readonly ratio: number | null;
  readonly note: string | null;
}

const IDLE_GAP_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `python3` if it imports torch, else /usr/bin/python3 if it does, else null. */
export function findTorchPython(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

/** scripts/bench_eval_torch.py of this checkout, from src/bench or dist/src/bench. */
function torchScript(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const p = join(dir, 'scripts', 'bench_eval_torch.py');
    if (existsSync(p)) return p;
  }
  return null;
}

/** The PyTorch process: loaded once, then asked for K timed batches at a time. */
class TorchSide {
  private readonly lines: AsyncIterator<string>;
  private readonly closed: Promise<void>;
  private stderr = '';
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stderr.on('data', (d) => (this.stderr = (this.stderr + String(d)).slice(-2000)));
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
    child.once('error', (e) => (this.stderr += e.message));
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async start(python: string, script: string, dir: string): Promise<{ side: TorchSide; version: string }> {
    const side = new TorchSide(spawn(python, [script, dir], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const ready = (await side.reply()) as { ready: boolean; torch: string };
    return { side, version: ready.torch };
  }

  private async reply(): Promise<unknown> {
    const r = await this.lines.next();
    if (r.done) {
      await this.closed;
      throw new Error(`the PyTorch process ended: ${this.stderr.trim().split('\n').pop() || 'no message'}`);
    }
    return JSON.parse(r.value);
  }

  async run(k: number): Promise<number[]> {
    this.child.stdin.write(`run ${k}\n`);
    return ((await this.reply()) as { seconds: number[] }).seconds;
  }

  close(): void {
    this.child.stdin.end('quit\n');
  }
}

interface OrtSide {
  readonly name: string;
  logits(): Promise<Float32Array>;
  release(): Promise<void>;
}

const predictorSide = (name: string, p: Predictor, x: Float32Array, shape: BatchShape): OrtSide => ({
  name,
  logits: () => p.logits(x, shape),
  release: () => p.release(),
});

async function sessionSide(name: string, bytes: Uint8Array, threads: number, extra: ort.InferenceSession.SessionOptions, x: Float32Array, shape: BatchShape): Promise<OrtSide> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], executionMode: 'sequential', interOpNumThreads: 1, intraOpNumThreads: threads, ...extra });
  return {
    name,
    logits: async () => (await s.run({ x: new ort.Tensor('float32', x, [...shape]) })).logits.data as Float32Array,
    release: () => s.release(),
  };
}

/** The ORT forms to time; the first is the headline (exactly the `eval` command's loader). */
async function ortSides(model: Model, weights: Map<string, Float32Array>, o: EvalBenchOptions, x: Float32Array, shape: BatchShape): Promise<OrtSide[]> {
  const bytes = model.exportGraph(weights).bytes;
  const sides = [predictorSide('onnxruntime, model.onnx (eval path: level all)', await loadOnnxClassifier(bytes, { threads: o.threads }), x, shape)];
  if (o.variants) {
    sides.push(await sessionSide('  model.onnx, level extended', bytes, o.threads, { graphOptimizationLevel: 'extended' }, x, shape));
    sides.push(
      await sessionSide('  model.onnx, level all without NCHWc', bytes, o.threads, {
        graphOptimizationLevel: 'all',
        extra: { optimization: { disable_specified_optimizers: 'NchwcTransformer' } },
      }, x, shape),
    );
    sides.push(await sessionSide('  model.onnx, level all, no thread spinning', bytes, o.threads, {
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    }, x, shape));
    sides.push(predictorSide('  forward graph, weights as inputs (weightsPredictor)', await weightsPredictor(model, weights, { threads: o.threads }), x, shape));
  }
  return sides;
}

/** Writes the weights and batch for the PyTorch side. */
function writeTorchInputs(dir: string, model: Model, weights: Map<string, Float32Array>, x: Float32Array, o: EvalBenchOptions): void {
  const params: { name: string; shape: number[]; offset: number }[] = [];
  const parts: Float32Array[] = [];
  let offset = 0;
  for (const p of model.params) {
    const w = weights.get(p.name)!;
    params.push({ name: p.name, shape: p.shape, offset });
    parts.push(w);
    offset += w.length;
  }
  const blob = new Float32Array(offset + x.length);
  parts.reduce((at, w) => (blob.set(w, at), at + w.length), 0);
  blob.set(x, offset);
  writeFileSync(join(dir, 'tensors.bin'), new Uint8Array(blob.buffer));
  const m = model.spec;
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({ width: o.width, classes: m.numClasses, input_shape: m.inputShape, threads: o.threads, batch: o.batch, warmup: o.warmup, params, x_offset: offset }),
  );
}

const rateOf = (name: string, seconds: number[], batch: number): Rate => {
  const s = median(seconds);
  return { name, imagesPerSec: batch / s, msPerBatch: 1000 * s };
};

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export async function runEvalBench(o: EvalBenchOptions): Promise<EvalBenchResult> {
  const model = buildModel({ arch: 'mnist_cnn', inputShape: [1, 28, 28], numClasses: 10, width: o.width });
  const weights = model.initParams(0);
  const rng = new Rng(0, 'bench-eval');
  const shape: BatchShape = [o.batch, 1, 28, 28];
  const x = Float32Array.from({ length: o.batch * 784 }, () => rng.uniform());

  const sides = await ortSides(model, weights, o, x, shape);
  const dir = mkdtempSync(join(tmpdir(), 'rt-bench-eval-'));
  let torch: { side: TorchSide; version: string; python: string } | null = null;
  let note: string | null = null;
  try {
    const python = o.python === undefined ? findTorchPython() : o.python;
    const script = torchScript();
    if (o.python === null) note = 'PyTorch side skipped (--no-torch)';
    else if (!python) note = 'PyTorch not found (neither python3 nor /usr/bin/python3 imports torch): ratio skipped';
    else if (!script) note = 'scripts/bench_eval_torch.py not found beside this installation: ratio skipped';
    else {
      writeTorchInputs(dir, model, weights, x, o);
      try {
        torch = { ...(await TorchSide.start(python, script, dir)), python };
      } catch (e) {
        note = `${(e as Error).message}: ratio skipped`;
      }
    }

    const times = sides.map(() => [] as number[]);
    for (const s of sides) for (let i = 0; i < o.warmup; i++) await s.logits();
    const torchTimes: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      for (let k = 0; k < sides.length; k++) {
        for (let i = 0; i < o.iters; i++) {
          const t0 = performance.now();
          await sides[k].logits();
          times[k].push((performance.now() - t0) / 1000);
        }
        await sleep(IDLE_GAP_MS);
      }
      if (torch) {
        torchTimes.push(...(await torch.side.run(o.iters)));
        await sleep(IDLE_GAP_MS);
      }
    }

    const rates = sides.map((s, k) => rateOf(s.name, times[k], o.batch));
    let torchRate: EvalBenchResult['torch'] = null;
    if (torch) {
      const torchLogits = new Float32Array(new Uint8Array(readFileSync(join(dir, 'torch_logits.bin'))).buffer);
      const diff = maxAbsDiff(await sides[0].logits(), torchLogits);
      torchRate = { ...rateOf(`pytorch ${torch.version} CPU (${torch.python})`, torchTimes, o.batch), version: torch.version, python: torch.python, maxAbsLogitDiff: diff };
    }
    return {
      model: 'mnist_cnn',
      width: o.width,
      batch: o.batch,
      threads: o.threads,
      rounds: o.rounds,
      iters: o.iters,
      onnxruntime: { ...rates[0], version: ort.env.versions.common ?? '' },
      variants: rates.slice(1),
      torch: torchRate,
      ratio: torchRate ? rates[0].imagesPerSec / torchRate.imagesPerSec : null,
      note,
    };
  } finally {
    torch?.side.close();
    await Promise.all(sides.map((s) => s.release()));
    rmSync(dir, { recursive: true, force: true });
  }
}

function lines(r: EvalBenchResult): string[] {
  const row = (x: Rate) => `${x.name.padEnd(58)} ${x.imagesPerSec.toFixed(0).padStart(7)} images/s  (${x.msPerBatch.toFixed(1)} ms/batch)`;
  const out = [
    `MNIST_CNN width ${r.width}, batch ${r.batch}, ${r.threads} thread${r.threads > 1 ? 's' : ''}; ${r.rounds} alternating rounds × ${r.iters} batches per side, medians after warm-up`,
    row({ ...r.onnxruntime, name: `${r.onnxruntime.name} ${r.onnxruntime.version}` }),
    ...r.variants.map(row),
  ];
  if (r.torch) {
    out.push(row(r.torch));
    out.push(`ratio onnxruntime / pytorch: ${r.ratio!.toFixed(2)}× (target ≥ 1.0×); max |logit difference| ${r.torch.maxAbsLogitDiff.toExponential(1)}`);
  }
  if (r.note) out.push(r.note);
  return out;
}

export function evalBenchCommand(): Command {
  return new Command('eval')
    .description('images/s of ORT inference for MNIST_CNN vs PyTorch CPU on the same network, batch and threads (ratio)')
    .option('--model <arch>', 'network (mnist_cnn)', 'mnist_cnn')
    .option('--width <n>', 'MNIST_CNN width (DomainBed: 64)', '64')
    .option('--batch <n>', 'images per batch', '256')
    .option('--threads <n>', 'intra-op threads of both sides', '2')
    .option('--rounds <n>', 'alternating rounds', '5')
    .option('--iters <n>', 'batches timed per side per round', '4')
    .option('--warmup <n>', 'untimed batches per side first', '3')
    .option('--variants', 'also time other ORT forms (optimisation levels, NCHWc off, weights as inputs)')
    .option('--python <path>', 'python with torch for the PyTorch side (default: python3, else /usr/bin/python3)')
    .option('--no-torch', 'skip the PyTorch side')
    .option('--json', 'machine-readable output on stdout')
    .action(async (a: Record<string, string | boolean | undefined>) => {
      parseChoice('--model', String(a.model), ['mnist_cnn'] as const);
      const width = parseIntOption('--width', String(a.width), 8, 1024);
      if (width % 8) throw new InputError('--width', `must be a multiple of 8 (GroupNorm with 8 groups), got ${width}`);
      const r = await runEvalBench({
        width,
        batch: parseIntOption('--batch', String(a.batch), 1, 65536),
        threads: parseIntOption('--threads', String(a.threads), 1, 256),
        rounds: parseIntOption('--rounds', String(a.rounds), 1, 1000),
        iters: parseIntOption('--iters', String(a.iters), 1, 1000),
        warmup: parseIntOption('--warmup', String(a.warmup), 0, 1000),
        variants: a.variants === true,
        python: a.torch === false ? null : (a.python as string | undefined),
      });
      emit(a.json === true, r, () => lines(r));
    });
}
