// The 'fused' lowering of GroupNorm/BatchNorm (Tuning.norm): fewer full passes over activations.
// Forward: one LayerNormalization over [N, G, C/G·H·W] gives x̂, mean and 1/std at once; the
// per-channel affine is one BatchNormalization with zero mean, zero variance and ε = 1 (so √(0+1)
// = 1 exactly and y = x̂·γ + β). Backward works from two per-(n, c) sums, S1 = Σ dy and
// S2 = Σ dy·x̂, which also give dβ and dγ; then dx = A·dy + C + B·x̂ with A = rstd·γ,
// C = −rstd·mean(γ·dy), B = −rstd·mean(γ·dy·x̂) over each group: the A·dy + C part is again one
// BatchNormalization (over [1, N·C, H·W]), so the whole input gradient is two passes, not seven.
import type { IRNode } from '../ir.js';
import type { GradCtx, LowerCtx } from '../op.js';
import { saved } from '../op.js';
import type { OnnxEmitter } from '../onnx-builder.js';
import { spatial } from './shape.js';

/** y[:, c] = x[:, c]·scale[c] + shift[c] in one pass (channels on axis 1; `zeros` matches scale). */
export function scaleShift(e: OnnxEmitter, x: string, scale: string, shift: string, zeros: string, out: string): string {
  return e.node('BatchNormalization', [x, scale, shift, zeros, zeros], out, { epsilon: { float: 1 } });
}

function zerosLike(e: OnnxEmitter, v: string, out: string): string {
  return e.node('ConstantOfShape', [e.node('Shape', [v], `${out}/shape`)], out);
}

export function lowerGroupNorm(c: LowerCtx, n: IRNode, groups: number, eps: number): void {
  const [, ch, h, w] = spatial(c.net, n.inputs[0], n.name);
  const e = c.e, m = (ch / groups) * h * w;
  const xr = e.node('Reshape', [n.inputs[0], e.i64([0, groups, m])], saved(n, 'xr'));
  const ones = e.constTensor(`ones/${m}`, [m], () => new Float32Array(m).fill(1));
  e.node('LayerNormalization', [xr, ones], [saved(n, 'xhat'), saved(n, 'mean'), saved(n, 'rstd')], { axis: 2, epsilon: { float: eps } });
  const xhat = e.node('Reshape', [saved(n, 'xhat'), e.i64([0, ch, h, w])], saved(n, 'xhat4'));
  const zeros = e.constTensor(`zeros/${ch}`, [ch], () => new Float32Array(ch));
  scaleShift(e, xhat, n.inputs[1], n.inputs[2], zeros, n.outputs[0]);
}

/**
 * Gradients of y = γ·x̂ + β with x̂ standardised per group (GroupNorm, rstd [N, G, 1]) or per
 * channel over the batch (BatchNorm in training mode, rstd [1, C, 1, 1]).
 */
export function standardizedAffineGrad(g: GradCtx, n: IRNode, groups: number | 'batch', xhat: string, rstd: string): void {
  const [, ch, h, w] = spatial(g.net, n.inputs[0], n.name);
  const e = g.e, dy = g.GO(0)!;
  const perExample = groups !== 'batch';
  const axes = perExample ? [2, 3] : [0, 2, 3];
  // S1, S2: [N, C] per example (GroupNorm) or [C] (BatchNorm); their batch sums are dβ, dγ.
  const s1 = e.reduceSum(dy, axes, g.tmp('sumDy'), false);
  const s2 = e.reduceSum(e.node('Mul', [dy, xhat], g.tmp('dyXhat')), axes, g.tmp('sumDyXhat'), false);
  const paramGrad = (i: number, s: string) => {
    if (!g.needs(i)) return;
    if (perExample) e.reduceSum(s, [0], g.GI(i), false);
    else g.alias(i, s);
  };
  paramGrad(1, s2);
  paramGrad(2, s1);
  if (!g.needs(0)) return;

  const gamma = n.inputs[1];
  let a: string, shiftC: string, b: string;
  if (perExample) {
    const G = groups, cg = ch / G, count = cg * h * w;
    const groupMean = (s: string, tag: string) => {
      const gs = e.node('Reshape', [e.node('Mul', [s, gamma], g.tmp(`gamma${tag}`)), e.i64([0, G, cg])], g.tmp(`gamma${tag}G`));
      return e.node('Div', [e.reduceSum(gs, [2], g.tmp(`sum${tag}G`)), e.f32(count)], g.tmp(`mean${tag}`)); // [N, G, 1]
    };
    const perChannel = (v: string, tag: string, shape: number[]) =>
      e.node('Reshape', [e.node('Expand', [v, e.i64([1, 1, cg])], g.tmp(`${tag}E`)), e.i64(shape)], g.tmp(tag));
    const negRstd = e.node('Neg', [rstd], g.tmp('negRstd'));
    a = e.node('Reshape', [e.node('Mul', [rstd, e.node('Reshape', [gamma, e.i64([G, cg])], g.tmp('gammaG'))], g.tmp('aG')), e.i64([-1])], g.tmp('a'));
    shiftC = perChannel(e.node('Mul', [negRstd, groupMean(s1, 'Dy')], g.tmp('cG')), 'c', [-1]);
    b = perChannel(e.node('Mul', [negRstd, groupMean(s2, 'DyXhat')], g.tmp('bG')), 'b', [-1, ch, 1, 1]);
  } else {
    // count = N·H·W with a symbolic batch.
    const batch = e.node('Cast', [e.node('Shape', [dy], g.tmp('batch'), { end: 1 })], g.tmp('batchF'), { to: 1 });
    const count = e.node('Mul', [batch, e.f32(h * w)], g.tmp('count'));
    const rs = e.node('Reshape', [rstd, e.i64([ch])], g.tmp('rstdC'));
    a = e.node('Mul', [rs, gamma], g.tmp('a'));
    const negA = e.node('Div', [e.node('Neg', [a], g.tmp('negA')), count], g.tmp('negAOverCount'));
    shiftC = e.node('Mul', [negA, s1], g.tmp('c'));
    b = e.node('Reshape', [e.node('Mul', [negA, s2], g.tmp('bC')), e.i64([ch, 1, 1])], g.tmp('b'));
  }
  const zeros = zerosLike(e, a, g.tmp('zeros'));
  const flat = perExample ? e.node('Reshape', [dy, e.i64([1, -1, h * w])], g.tmp('dyFlat')) : dy;
  const ady = scaleShift(e, flat, a, shiftC, zeros, g.tmp('aDyC'));
  const ady4 = perExample ? e.node('Reshape', [ady, e.i64([-1, ch, h, w])], g.tmp('aDyC4')) : ady;
  e.node('Add', [ady4, e.node('Mul', [xhat, b], g.tmp('bXhat'))], g.GI(0));
}

/** Frozen BatchNorm forward: one BatchNormalization op with the running statistics. */
export function lowerFrozenBatchNorm(c: LowerCtx, n: IRNode, eps: number): void {
  c.e.node('BatchNormalization', n.inputs, n.outputs[0], { epsilon: { float: eps } });
}

/** Frozen BatchNorm backward: dx = dy·γ·rstd, dγ = rstd·Σ dy·(x − running_mean), dβ = Σ dy. */
export function frozenBatchNormGrad(g: GradCtx, n: IRNode, eps: number): void {
  const [x, gamma, , rm, rv] = n.inputs;
  const ch = spatial(g.net, x, n.name)[1];
  const e = g.e, dy = g.GO(0)!, axes = [0, 2, 3], cShape = e.i64([ch, 1, 1]);
  const rstd = e.node('Reciprocal', [e.node('Sqrt', [e.node('Add', [rv, e.f32(eps)], g.tmp('varEps'))], g.tmp('std'))], g.tmp('rstd'));
  if (g.needs(0)) e.node('Mul', [dy, e.node('Reshape', [e.node('Mul', [gamma, rstd], g.tmp('scale')), cShape], g.tmp('scaleR'))], g.GI(0));
  if (g.needs(1)) {
    const xc = e.node('Sub', [x, e.node('Reshape', [rm, cShape], g.tmp('meanR'))], g.tmp('xc'));
    e.node('Mul', [e.reduceSum(e.node('Mul', [dy, xc], g.tmp('dyXc')), axes, g.tmp('sumDyXc'), false), rstd], g.GI(1));
  }
  if (g.needs(2)) e.reduceSum(dy, axes, g.GI(2), false);
}
