// Shared helpers of the optim tests: seeded data and comparisons.
import type { AdamGroupArgs, SgdGroupArgs } from '../../bindings/native.js';

/** Deterministic normal-ish values in [-scale, scale) * ~1.7 (sum of uniforms; mulberry32). */
export function seeded(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() + next() + next() - 1.5) * 2 * scale;
  return out;
}

/** Deep copy of SGD arguments (fresh arrays, same hyperparameters). */
export function cloneSgd(groups: SgdGroupArgs[]): SgdGroupArgs[] {
  return groups.map((g) => ({
    ...g,
    params: g.params.map((a) => a.slice()),
    grads: g.grads.map((a) => a.slice()),
    momentumBuffers: g.momentumBuffers ? g.momentumBuffers.map((a) => a.slice()) : g.momentumBuffers,
  }));
}

export function cloneAdam(groups: AdamGroupArgs[]): AdamGroupArgs[] {
  return groups.map((g) => ({
    ...g,
    params: g.params.map((a) => a.slice()),
    grads: g.grads.map((a) => a.slice()),
    expAvg: g.expAvg.map((a) => a.slice()),
    expAvgSq: g.expAvgSq.map((a) => a.slice()),
  }));
}

/** Every written array of a call, group by group, for comparisons. */
export function sgdOutputs(groups: SgdGroupArgs[]): Float32Array[] {
  return groups.flatMap((g) => [...g.params, ...(g.momentum !== 0 ? g.momentumBuffers! : [])]);
}

export function adamOutputs(groups: AdamGroupArgs[]): Float32Array[] {
  return groups.flatMap((g) => [...g.params, ...g.expAvg, ...g.expAvgSq]);
}

/** Index of the first element whose bits differ, or -1 (NaN-safe: compares the bits). */
export function firstBitDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

export function expectSameBits(a: Float32Array[], b: Float32Array[], what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} arrays vs ${b.length}`);
  a.forEach((x, i) => {
    const at = firstBitDiff(x, b[i]);
    if (at >= 0) throw new Error(`${what}: array ${i} differs first at element ${at}: ${x[at]} vs ${b[i][at]}`);
  });
}

/** SGD hyperparameter sets covering momentum, nesterov, dampening, weight decay, maximize. */
export const SGD_CONFIGS = [
  { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0 },
  { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 0 },
  { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 1e-2, nesterov: true },
  { lr: 0.02, momentum: 0.7, dampening: 0.3, weightDecay: 0.05, maximize: true },
];
/** Adam sets covering coupled and decoupled decay, betas, eps, maximize. */
export const ADAM_CONFIGS = [
  { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
  { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 },
  { lr: 1e-2, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1, decoupled: true },
  { lr: 5e-3, beta1: 0.85, beta2: 0.99, eps: 1e-7, weightDecay: 0.01, maximize: true },
];

/** One group per SGD_CONFIGS entry, each with a tensor of every size; first step pending. */
export function sgdGroups(sizes: number[]): SgdGroupArgs[] {
  return SGD_CONFIGS.map((h, gi) => ({
    ...h,
    params: sizes.map((s, t) => seeded(s, 100 * gi + t)),
    grads: sizes.map((s, t) => seeded(s, 100 * gi + t + 50, 0.5)),
    momentumBuffers: h.momentum ? sizes.map((s) => new Float32Array(s)) : null,
    firstStep: true,
  }));
}

// Adam gradients stay away from zero (|grad| >= 0.1 > wd*|p|): where g = grad + wd*p cancels to
// about eps, the update lr*g/(|g|+eps) amplifies the one-ulp difference between FMA and mul+add
// in wd*p by up to lr/eps. That is the conditioning of Adam itself (torch has it too), not a
// kernel difference, so it is kept out of a test about kernel agreement.
export function awayFromZero(a: Float32Array): Float32Array {
  return a.map((x) => Math.sign(x || 1) * (0.1 + Math.abs(x)));
}

/** One group per ADAM_CONFIGS entry, each with a tensor of every size; step 1 pending. */
export function adamGroups(sizes: number[]): AdamGroupArgs[] {
  return ADAM_CONFIGS.map((h, gi) => ({
    ...h,
    params: sizes.map((s, t) => seeded(s, 200 * gi + t)),
    grads: sizes.map((s, t) => awayFromZero(seeded(s, 200 * gi + t + 50, 0.5))),
    expAvg: sizes.map((s) => new Float32Array(s)),
    expAvgSq: sizes.map((s) => new Float32Array(s)),
    step: 1,
  }));
}

/** `steps` SGD steps through `step` (first-step path, then the running-buffer path); the outputs. */
export function sgdSteps(groups: SgdGroupArgs[], steps: number, step: (g: SgdGroupArgs[]) => void): Float32Array[] {
  for (let k = 0; k < steps; k++) step(k === 0 ? groups : groups.map((g) => ({ ...g, firstStep: false })));
  return sgdOutputs(groups);
}

/** `steps` Adam steps through `step`, numbered from each group's `step`; the outputs. */
export function adamSteps(groups: AdamGroupArgs[], steps: number, step: (g: AdamGroupArgs[]) => void): Float32Array[] {
  for (let k = 0; k < steps; k++) step(groups.map((g) => ({ ...g, step: g.step + k })));
  return adamOutputs(groups);
}
