// `ratatouille bench train`: one training step of MNIST_CNN (or ResNet-18) through ORT plus the
// native Adam, against the same step in PyTorch CPU measured in the same run (rounds alternate
// between the two so both see the same machine drift; medians after warm-up), with ORT's profiler
// saying where the time goes. Optional A/B rounds time the formulation levers (Tuning) and the
// multi-member graph against separate sessions, interleaved the same way. Each step's process CPU
// time is recorded beside its wall time, and the load average is printed: on a shared machine
// busier than its cores, wall-clock ratios mostly measure scheduling.
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { parseChoice, parseIntOption } from '../cli/options.js';
import type { ModelSpec, Model, ProfileSummary, TrainingGraphOptions, Tuning } from '../graph/index.js';
import { buildModel, createTrainingSession, MultiTrainingSession, ortVersion, ReplicatedTrainingSession, Rng, TrainingSession } from '../graph/index.js';
import { Adam } from '../train/optim.js';
import { median } from './stats.js';
import { findTorchPython, TorchStepper, type TorchExit } from './train-torch.js';

export interface TrainBenchOptions {
  model: 'mnist_cnn' | 'resnet18';
  /** MNIST_CNN's first width (64: DomainBed) or ResNet's base width (64: torchvision). */
  width: number;
  batch: number;
  /** ResNet input side (MNIST is 28). */
  image: number;
  threads: number;
  /** Data-parallel replicas of ours ('auto': as the trainer plans them). */
  replicas: number | 'auto';
  steps: number;
  rounds: number;
  warmup: number;
  /** >1: also time one M-member graph against M separate sessions. */
  members: number;
  torch: boolean;
  profileSteps: number;
  /** Also time each lever switched back to the prototype's formulation. */
  ab: boolean;
}

export interface StepStats {
  label: string;
  fbMs: number;
  optMs: number;
  stepMs: number;
  p10Ms: number;
  p90Ms: number;
  /** Median process CPU time per step (all threads), ms: steadier than wall time on a loaded machine. */
  cpuMs: number;
}

export interface TrainBenchResult {
  config: Omit<TrainBenchOptions, 'replicas'> & { replicas: number; inputShape: readonly number[]; channels: number[]; params: number; nodes: number; ort: string; nchwcBlock: number };
  /** 1-minute load average before and after the timed rounds, and the cores it compares with. */
  load: { start: number; end: number; cores: number };
  ours: StepStats & { peakRssBytes: number; sessionCreateMs: number };
  torch: (StepStats & TorchExit) | { unavailable: string };
  /** Throughput ours/torch (torch step ms over ours). */
  ratio?: number;
  /** The same from CPU time per step (torch's includes its OpenMP spin-waits at > 1 thread). */
  cpuRatio?: number;
  profile?: ProfileSummary;
  /** Other contenders timed in the same rounds (A/B levers, multi-member), with their speed relative to `ours`. */
  variants: (StepStats & { perMemberMs?: number; vsOurs: number; cpuVsOurs: number })[];
}

/** A way of running one training step: `step` returns its forward+backward and optimizer ms. */
interface Contender {
  label: string;
  members: number;
  step(i: number): Promise<[number, number]>;
  release(): Promise<void>;
  fb: number[];
  opt: number[];
  cpu: number[];
}

const LEVERS: { label: string; tuning: Partial<Tuning>; resnetOnly?: boolean }[] = [
  { label: 'prototype formulations (standard Conv, one-hot dW, flipped-Conv dX, decomposed norm, Where ReLU)', tuning: { convLayout: 'nchw', convWeightGrad: 'onehot', convInputGrad: 'conv', norm: 'decomposed', reluGrad: 'where', convWinograd: 'off' } },
  { label: 'without Winograd 3×3 convolutions (direct NCHWc forward and dX, im2col dW)', tuning: { convWinograd: 'off' } },
  { label: 'without NCHWc convolutions (standard Conv: im2col + GEMM)', tuning: { convLayout: 'nchw' } },
  { label: 'without Gather-im2col dW (one-hot Conv + MatMul)', tuning: { convWeightGrad: 'onehot' } },
  { label: 'without batch-innermost im2col dW (batch-major rows, packed by the Gemm)', tuning: { convWeightGrad: 'gather' } },
  { label: 'without fused norm (ReduceMean chains)', tuning: { norm: 'decomposed' } },
  { label: 'without float-mask ReLU backward (Where)', tuning: { reluGrad: 'where' } },
  { label: 'without ConvTranspose dX on small maps (flipped-kernel Conv everywhere)', tuning: { convInputGrad: 'conv' }, resnetOnly: true },
];

function specOf(o: TrainBenchOptions): ModelSpec {
  return o.model === 'mnist_cnn'
    ? { arch: 'mnist_cnn', inputShape: [1, 28, 28], numClasses: 10, width: o.width }
    : { arch: 'resnet18', inputShape: [3, o.image, o.image], numClasses: 10, baseWidth: o.width };
}

function batchData(model: Model, n: number, seed: number) {
  const rng = new Rng(seed, 'bench');
  const per = model.spec.inputShape.reduce((a, b) => a * b, 1);
  return {
    x: Float32Array.from({ length: n * per }, () => rng.normal()),
    y: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % model.spec.numClasses)),
  };
}

/** A session (of either kind) stepping one fixed batch with a native Adam, timed from creation. */
async function adamContender<S extends TrainingSession | ReplicatedTrainingSession>(label: string, model: Model, o: TrainBenchOptions, create: (params: Map<string, Float32Array>) => Promise<S>) {
  const params = model.initParams(0);
  const t0 = performance.now();
  const s = await create(params);
  const createMs = performance.now() - t0;
  const adam = new Adam(s.graph.grads.map((n) => params.get(n)!), { lr: 1e-3 });
  const { x, y } = batchData(model, o.batch, 1);
  const c: Contender = {
    label, members: 1, fb: [], opt: [], cpu: [],
    async step() {
      const t = performance.now();
      const r = await s.step(x, y);
      const t1 = performance.now();
      adam.step(s.graph.grads.map((n) => r.grads.get(n)!));
      return [t1 - t, performance.now() - t1];
    },
    release: () => s.release(),
  };
  return { c, s, createMs };
}

/** The step the trainer runs: createTrainingSession's choice (replicas or one session) for these threads. */
async function trainers(label: string, model: Model, o: TrainBenchOptions, g: TrainingGraphOptions = {}) {
  const r = await adamContender(label, model, o, (params) => createTrainingSession(model, params, { ...g, threads: o.threads, batch: o.batch, replicas: o.replicas }));
  return { ...r, replicas: r.s instanceof ReplicatedTrainingSession ? r.s.size : 1 };
}

/** One session with o.threads intra-op threads on the graph the trainer builds (symbolic batch). */
function single(label: string, model: Model, o: TrainBenchOptions, g: TrainingGraphOptions = {}, extra = {}) {
  return adamContender(label, model, o, (params) => TrainingSession.create(model, params, { threads: o.threads, ...g, ...extra }));
}

/** M single-member sessions stepped one after the other (what a sweep does without multi-member graphs). */
async function separate(model: Model, o: TrainBenchOptions): Promise<Contender> {
  const runs = await Promise.all(Array.from({ length: o.members }, () => single('', model, o)));
  return {
    label: `${o.members} separate sessions`, members: o.members, fb: [], opt: [], cpu: [],
    async step(i) {
      let fb = 0, opt = 0;
      for (const r of runs) {
        const [a, b] = await r.c.step(i);
        fb += a;
        opt += b;
      }
      return [fb, opt];
    },
    release: async () => void (await Promise.all(runs.map((r) => r.c.release()))),
  };
}

async function multi(model: Model, o: TrainBenchOptions): Promise<Contender> {
  const inits = Array.from({ length: o.members }, (_, m) => model.initParams(m));
  const s = await MultiTrainingSession.create(model, o.members, inits, { threads: o.threads, batch: o.batch });
  const adam = Adam.forModels(s.memberParams.map((p) => s.graph.grads.map((n) => p.get(n)!)), { lr: 1e-3 });
  const batches = Array.from({ length: o.members }, (_, m) => batchData(model, o.batch, 1 + m));
  return {
    label: `one ${o.members}-member graph`, members: o.members, fb: [], opt: [], cpu: [],
    async step() {
      const t = performance.now();
      const r = await s.step(batches.map((b) => b.x), batches.map((b) => b.y));
      const t1 = performance.now();
      adam.stepGroups(r.grads.map((gm) => s.graph.grads.map((n) => gm.get(n)!)));
      return [t1 - t, performance.now() - t1];
    },
    release: () => s.release(),
  };
}

function stats(label: string, fb: number[], opt: number[], cpu: number[]): StepStats {
  const total = fb.map((v, i) => v + opt[i]).sort((a, b) => a - b);
  const q = (f: number) => total[Math.min(total.length - 1, Math.floor(f * total.length))];
  return { label, fbMs: median(fb), optMs: median(opt), stepMs: median(total), p10Ms: q(0.1), p90Ms: q(0.9), cpuMs: median(cpu) };
}

/** The CPU time (all threads) a contender's step takes, alongside its wall-clock split. */
async function timedStep(c: Contender, i: number): Promise<void> {
  const c0 = process.cpuUsage();
  const [fb, opt] = await c.step(i);
  const u = process.cpuUsage(c0);
  c.fb.push(fb);
  c.opt.push(opt);
  c.cpu.push((u.user + u.system) / 1000);
}

export async function runTrainBench(o: TrainBenchOptions, log: (s: string) => void = () => {}): Promise<TrainBenchResult> {
  const spec = specOf(o);
  const model = buildModel(spec);
  const main = await trainers('ours', model, o);
  const contenders: Contender[] = [main.c];
  if (main.replicas > 1) contenders.push((await single(`one session with ${o.threads} intra-op threads instead of ${main.replicas} replicas`, model, o)).c);
  if (o.ab) for (const l of LEVERS) if (!l.resnetOnly || o.model === 'resnet18') contenders.push((await trainers(l.label, model, o, { tuning: l.tuning })).c);
  if (o.ab) contenders.push((await single(`one session, intra-op threads spinning (ORT\'s default)`, model, o, {}, { spinning: true })).c);
  if (o.members > 1) contenders.push(await separate(model, o), await multi(model, o));

  let torch: TorchStepper | undefined, torchWhy = '';
  const torchFb: number[] = [], torchOpt: number[] = [], torchCpu: number[] = [];
  if (o.torch) {
    const py = findTorchPython();
    if ('python' in py) {
      const c = model.spec.inputShape;
      torch = await TorchStepper.start(py.python, ['--model', o.model, '--width', `${o.width}`, '--input', ...c.map(String), '--classes', '10', '--batch', `${o.batch}`, '--threads', `${o.threads}`]);
      await torch.run(o.warmup);
    } else torchWhy = py.unavailable;
  } else torchWhy = 'not requested (--no-torch)';

  for (const c of contenders) for (let i = 0; i < o.warmup; i++) await c.step(i);
  const loadStart = loadavg()[0];
  for (let r = 0; r < o.rounds; r++) {
    log(`round ${r + 1}/${o.rounds}`);
    const order: (Contender | 'torch')[] = [...contenders, ...(torch ? ['torch' as const] : [])];
    for (const c of r % 2 ? order.reverse() : order) {
      if (c === 'torch') {
        const t = await torch!.run(o.steps);
        torchFb.push(...t.fb);
        torchOpt.push(...t.opt);
        torchCpu.push(...t.cpu);
        continue;
      }
      for (let i = 0; i < o.steps; i++) await timedStep(c, i);
    }
  }
  const load = { start: loadStart, end: loadavg()[0], cores: availableParallelism() };
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const ours = { ...stats('ours', main.c.fb, main.c.opt, main.c.cpu), peakRssBytes, sessionCreateMs: main.createMs };
  const torchResult = torch ? { ...stats('torch', torchFb, torchOpt, torchCpu), ...(await torch.quit()) } : { unavailable: torchWhy };
  const variants = contenders.slice(1).map((c) => {
    const s = stats(c.label, c.fb, c.opt, c.cpu);
    return { ...s, ...(c.members > 1 ? { perMemberMs: s.stepMs / c.members } : {}), vsOurs: s.stepMs / c.members / ours.stepMs, cpuVsOurs: s.cpuMs / c.members / ours.cpuMs };
  });
  await Promise.all(contenders.map((c) => c.release()));

  let profile: ProfileSummary | undefined;
  if (o.profileSteps > 0) {
    log('profiling');
    const prefix = join(tmpdir(), `ratatouille-bench-train-${process.pid}`);
    // One session (replicas profile in their own threads): the same kernels, run side by side there.
    const p = await single('profile', model, o, {}, { profile: prefix });
    for (let i = 0; i < o.warmup + o.profileSteps; i++) await p.c.step(i);
    profile = p.s.endProfile(prefix, o.warmup);
    await p.c.release();
  }
  const channels = model.params.filter((p) => /^featurizer\.conv\d+\.weight$/.test(p.name)).map((p) => p.shape[0] as number);
  const config = { ...o, replicas: main.replicas, inputShape: spec.inputShape, channels, nchwcBlock: main.s.graph.nchwcBlock, params: main.s.graph.grads.reduce((a, n) => a + model.params.find((p) => p.name === n)!.shape.reduce((x, y) => x * y, 1), 0), nodes: main.s.graph.nodeCount, ort: ortVersion() };
  const ratios = 'stepMs' in torchResult ? { ratio: torchResult.stepMs / ours.stepMs, cpuRatio: torchResult.cpuMs / ours.cpuMs } : {};
  return { config, load, ours, torch: torchResult, ...ratios, ...(profile ? { profile } : {}), variants };
}

const f1 = (v: number) => v.toFixed(1);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

export function formatTrainBench(r: TrainBenchResult): string {
  const c = r.config;
  const shape = c.inputShape.join('×');
  const line = (s: StepStats, who: string) =>
    `  ${who.padEnd(34)} fwd+bwd ${f1(s.fbMs).padStart(7)} ms  update ${f1(s.optMs).padStart(5)} ms  step ${f1(s.stepMs).padStart(7)} ms (p10 ${f1(s.p10Ms)}, p90 ${f1(s.p90Ms)}); CPU ${f1(s.cpuMs)} ms`;
  const arch = c.model === 'mnist_cnn' ? ` (conv channels ${c.channels.join('-')}, ${2 * c.width} features${c.width === 64 ? ': DomainBed\'s MNIST_CNN' : ''})` : '';
  const loaded = r.load.start > r.load.cores || r.load.end > r.load.cores;
  const out = [
    `bench train: ${c.model} width ${c.width}${arch}, batch ${c.batch} of ${shape}, ${c.threads} threads${c.replicas > 1 ? ` as ${c.replicas} data-parallel replicas` : ''}, Adam; ${c.params.toLocaleString('en-US')} trainable parameters, ${c.nodes} graph nodes${c.nchwcBlock ? `, NCHWc block ${c.nchwcBlock}` : ''}`,
    `  medians of ${c.rounds} rounds × ${c.steps} steps after ${c.warmup} warm-up steps, contenders alternating within each round; load average ${r.load.start.toFixed(1)} → ${r.load.end.toFixed(1)} on ${r.load.cores} cores`,
    line(r.ours, `ours (onnxruntime ${c.ort} + native Adam)`),
  ];
  if ('stepMs' in r.torch) {
    out.push(line(r.torch, `torch ${r.torch.torch} (${r.torch.threads} threads)`));
    out.push(`  throughput ours/torch: ${r.ratio!.toFixed(2)}× (wall clock); ${r.cpuRatio!.toFixed(2)}× by CPU time per step${c.threads > 1 ? ' (torch\'s includes OpenMP spin-waits)' : ''}`);
    if (loaded) out.push('  the machine was busier than its cores: wall-clock ratios then mostly measure scheduling (torch\'s OpenMP threads suffer most); trust a quiet run, or compare CPU time at --threads 1');
    out.push(`  peak RSS: ours ${mib(r.ours.peakRssBytes)} (whole process${r.variants.length ? ', all contenders' : ''}), torch ${mib(r.torch.peakRssBytes)}`);
  } else {
    out.push(`  torch: skipped, ${r.torch.unavailable}`, `  peak RSS: ours ${mib(r.ours.peakRssBytes)}`);
  }
  if (r.variants.length) out.push('other contenders in the same rounds (wall / CPU time per member-step relative to ours; below 1 is faster):');
  for (const v of r.variants) {
    const per = v.perMemberMs !== undefined ? `, ${f1(v.perMemberMs)} ms per member-step` : '';
    out.push(`  ${v.vsOurs.toFixed(2)}× / ${v.cpuVsOurs.toFixed(2)}×  ${v.label}: step ${f1(v.stepMs)} ms (fwd+bwd ${f1(v.fbMs)}, update ${f1(v.optMs)}; p10 ${f1(v.p10Ms)}, p90 ${f1(v.p90Ms)}; CPU ${f1(v.cpuMs)})${per}`);
  }
  const p = r.profile;
  if (p) {
    out.push(`where the time goes (ORT profiler, one session with ${c.threads} threads, ${p.runs} steps): forward ${f1(p.forwardMs)} ms, backward ${f1(p.backwardMs)} ms; kernels ${f1(p.kernelMs)} of ${f1(p.runMs)} ms per run`);
    out.push(`  by op:    ${p.byOp.slice(0, 10).map((e) => `${e.name} ${pct(e.share)}`).join(', ')}`);
    out.push(`  by layer: ${p.byLayer.slice(0, 8).map((e) => `${e.name} ${pct(e.share)}`).join(', ')}`);
  }
  return out.join('\n') + '\n';
}

export function trainBenchCommand(): Command {
  return new Command('train')
    .description('one training step (ORT forward+backward + native Adam) vs the same step in PyTorch CPU, same run')
    .option('--model <name>', 'mnist_cnn | resnet18', 'mnist_cnn')
    .option('--width <n>', 'first width (MNIST_CNN: 64 = DomainBed, 128 = wide) or ResNet base width', '64')
    .option('--batch <n>', 'examples per step (default 64; resnet18: 16)')
    .option('--image <px>', 'resnet18 input side', '224')
    .option('--threads <n>', 'threads for ORT and torch', '2')
    .option('--replicas <n|auto>', 'data-parallel replicas of ours (auto: as the trainer plans them)', 'auto')
    .option('--steps <n>', 'timed steps per round and contender', '5')
    .option('--rounds <n>', 'alternating rounds', '4')
    .option('--warmup <n>', 'untimed steps per contender first', '3')
    .option('--members <m>', 'also time one M-member graph vs M separate sessions (mnist_cnn)', '1')
    .option('--profile-steps <n>', 'steps run under ORT\'s profiler for "where the time goes" (0: none)', '3')
    .option('--ab', 'also time each formulation lever switched back to the prototype\'s, interleaved')
    .option('--no-torch', 'skip the PyTorch baseline')
    .option('--json', 'print the result as JSON')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const model = parseChoice('--model', String(opts.model), ['mnist_cnn', 'resnet18'] as const);
      const int = (k: string, min: number, max: number, d?: number) => (opts[k] === undefined ? d! : parseIntOption(`--${k.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase())}`, String(opts[k]), min, max));
      const o: TrainBenchOptions = {
        model,
        width: int('width', 1, 4096),
        batch: int('batch', 1, 1 << 16, model === 'resnet18' ? 16 : 64),
        image: int('image', 32, 4096),
        threads: int('threads', 1, 256),
        replicas: opts.replicas === 'auto' ? 'auto' : int('replicas', 1, 256),
        steps: int('steps', 1, 10_000),
        rounds: int('rounds', 1, 1000),
        warmup: int('warmup', 0, 1000),
        members: int('members', 1, 64),
        torch: opts.torch !== false,
        profileSteps: int('profileSteps', 0, 1000),
        ab: opts.ab === true,
      };
      const r = await runTrainBench(o, (s) => process.stderr.write(`bench train: ${s}\n`));
      process.stdout.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : formatTrainBench(r));
    });
}
