#!/usr/bin/env node
// GPU check of the optim family, for scripts/gpu-check.sh: CUDA vs CPU agreement of the fused
// SGD / Adam kernels, the `bench optim --cuda` numbers (CPU and GPU vs their triads), a CUDA-only
// size sweep, and torch's fused optimizers on the same tensor sizes. Prints one JSON object.
// Needs the CUDA build (build/Release) and the TypeScript build (dist/). Runs in well under 90 s.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { native } from '../../dist/bindings/native.js';
import { runOptimBench, transformerLikeSizes } from '../../dist/src/bench/optim.js';

const n = native();
const info = n.info();
const out = { info, checks: {}, bench: null, sweep: [], torch: null, errors: [] };

function filled(len, seed, scale) {
  const a = new Float32Array(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * scale;
  }
  return a;
}

function compare(a, b) {
  let maxRel = 0, bitExact = true;
  a.forEach((x, t) => {
    let d = 0, m = 0;
    for (let i = 0; i < x.length; i++) {
      d = Math.max(d, Math.abs(x[i] - b[t][i]));
      m = Math.max(m, Math.abs(b[t][i]));
      if (!Object.is(x[i], b[t][i])) bitExact = false;
    }
    maxRel = Math.max(maxRel, m ? d / m : d);
  });
  return { maxRelDiff: maxRel, bitExact };
}

// CUDA vs CPU (best SIMD level) over 3 steps on sizes that cross chunk and float4 edges.
function checks() {
  const sizes = [1, 7, 17, 65536, 65536 * 2 + 5, 1000003, 3 * 768 * 768];
  const mk = (seed) => sizes.map((s, i) => filled(s, seed + i, 2));
  const sgd = () => [
    { params: mk(1), grads: mk(100), momentumBuffers: sizes.map((s) => new Float32Array(s)), lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 1e-2, nesterov: true, firstStep: true },
    { params: mk(2), grads: mk(200), momentumBuffers: null, lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, maximize: true },
  ];
  const adam = () => [
    { params: mk(3), grads: mk(300), expAvg: sizes.map((s) => new Float32Array(s)), expAvgSq: sizes.map((s) => new Float32Array(s)), step: 1, lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: true },
    { params: mk(4), grads: mk(400), expAvg: sizes.map((s) => new Float32Array(s)), expAvgSq: sizes.map((s) => new Float32Array(s)), step: 1, lr: 1e-3, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.01 },
  ];
  const steps = 3;
  const gs = sgd(), cs = sgd();
  n.cudaSgdSteps(gs, { steps });
  for (let k = 0; k < steps; k++) n.sgdStep(cs.map((g) => ({ ...g, firstStep: k === 0 && g.firstStep })));
  out.checks.sgd = compare(gs.flatMap((g) => [...g.params, ...(g.momentumBuffers ?? [])]), cs.flatMap((g) => [...g.params, ...(g.momentumBuffers ?? [])]));
  const ga = adam(), ca = adam();
  n.cudaAdamSteps(ga, { steps });
  for (let k = 0; k < steps; k++) n.adamStep(ca.map((g) => ({ ...g, step: 1 + k })));
  out.checks.adam = compare(ga.flatMap((g) => [...g.params, ...g.expAvg, ...g.expAvgSq]), ca.flatMap((g) => [...g.params, ...g.expAvg, ...g.expAvgSq]));
  out.checks.cpuLevel = info.cpuLevel;
  out.checks.pass = out.checks.sgd.maxRelDiff <= 1e-6 && out.checks.adam.maxRelDiff <= 1e-6;
}

// CUDA-only: GB/s over parameter counts, kernel time from events.
function sweep() {
  for (const params of [4e6, 16e6, 64e6]) {
    const sizes = transformerLikeSizes(params);
    const p = sizes.map((s, i) => filled(s, i, 2)), g = sizes.map((s, i) => filled(s, 50 + i, 0.02));
    const z = () => sizes.map((s) => new Float32Array(s));
    const s = n.cudaSgdSteps([{ params: p, grads: g, momentumBuffers: z(), lr: 1e-4, momentum: 0.9, dampening: 0, weightDecay: 1e-4 }], { steps: 20 });
    const a = n.cudaAdamSteps([{ params: p, grads: g, expAvg: z(), expAvgSq: z(), step: 1, lr: 1e-5, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled: true }], { steps: 20 });
    out.sweep.push({ params, tensors: sizes.length, sgd: { ms: s.medianMs, gbs: (20 * params) / (s.medianMs * 1e-3) / 1e9 }, adam: { ms: a.medianMs, gbs: (28 * params) / (a.medianMs * 1e-3) / 1e9 } });
  }
}

function torch() {
  const script = fileURLToPath(new URL('./optim_torch.py', import.meta.url));
  const arg = JSON.stringify({ sizes: transformerLikeSizes(64e6), steps: 20 });
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, [script, arg], { encoding: 'utf8', timeout: 40_000 });
    if (r.status === 0 && r.stdout.trim()) {
      out.torch = JSON.parse(r.stdout.trim().split('\n').pop());
      if (!out.torch.skipped) return;
    }
  }
  out.torch ??= { skipped: 'no python3 with torch found' };
}

for (const [name, fn] of [['checks', checks], ['bench', () => {
  out.bench = runOptimBench({ params: 16e6, repeats: 10, tsRepeats: 1, triadBytes: 64 << 20, cuda: true });
}], ['sweep', sweep], ['torch', torch]]) {
  try {
    fn();
  } catch (e) {
    out.errors.push(`${name}: ${e?.message ?? e}`);
  }
}
// Ours vs torch's on the same 64M-parameter layout.
const ours = out.sweep.find((s) => s.params === 64e6);
if (ours && out.torch?.sgd) out.vsTorch = { sgd: out.torch.sgd.ms / ours.sgd.ms, adamw: out.torch.adamw.ms / ours.adam.ms };
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
process.exitCode = out.errors.length || !out.checks.pass ? 1 : 0;
