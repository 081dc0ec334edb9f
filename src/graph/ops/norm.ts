// GroupNorm and BatchNorm (frozen: running statistics as fixed inputs, γ/β trainable; or
// training mode: batch statistics plus running-statistics outputs). Two lowerings (Tuning.norm):
// 'fused' (norm-fused.ts, the default) and 'decomposed' into ReduceMean chains, whose backward is
// dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)); the running-statistics update is shared.
import type { Attrs, IRNode, Net } from '../ir.js';
import type { GradCtx, LowerCtx, OpDef } from '../op.js';
import { saved } from '../op.js';
import type { OnnxEmitter } from '../onnx-builder.js';
import { frozenBatchNormGrad, lowerFrozenBatchNorm, lowerGroupNorm, standardizedAffineGrad } from './norm-fused.js';
import { spatial } from './shape.js';

const CHANNEL_AXES = [0, 2, 3];

interface GroupNormAttrs extends Attrs {
  groups: number;
  eps: number;
}

interface BatchNormAttrs extends Attrs {
  /** 'frozen': always normalise with the running statistics (DomainBed's ResNet). */
  mode: 'frozen' | 'train';
  eps: number;
  momentum: number;
}

function affineParams(net: Net, name: string, c: number): [string, string] {
  return [
    net.param(`${name}.weight`, [c], { kind: 'const', value: 1 }),
    net.param(`${name}.bias`, [c], { kind: 'const', value: 0 }),
  ];
}

export function groupNorm(net: Net, name: string, x: string, groups: number, eps = 1e-5): string {
  const s = spatial(net, x, name);
  if (s[1] % groups) throw new Error(`${name}: ${s[1]} channels not divisible into ${groups} groups`);
  return net.add('GroupNorm', name, [x, ...affineParams(net, name, s[1])], [s], { groups, eps })[0];
}

export function batchNorm(net: Net, name: string, x: string, mode: 'frozen' | 'train', eps = 1e-5, momentum = 0.1): string {
  const s = spatial(net, x, name);
  const inputs = [
    x,
    ...affineParams(net, name, s[1]),
    net.param(`${name}.running_mean`, [s[1]], { kind: 'const', value: 0 }, 'buffer'),
    net.param(`${name}.running_var`, [s[1]], { kind: 'const', value: 1 }, 'buffer'),
  ];
  return net.add('BatchNorm', name, inputs, [s], { mode, eps, momentum })[0];
}

/** x̂ = (x − mean)·rstd over `axes`; saves mean, var, rstd (keepdims) and x̂ under node n. */
function standardize(e: OnnxEmitter, n: IRNode, x: string, axes: number[], eps: number): void {
  const mean = e.reduceMean(x, axes, saved(n, 'mean'));
  const xc = e.node('Sub', [x, mean], saved(n, 'xc'));
  const sq = e.node('Mul', [xc, xc], saved(n, 'xc2'));
  const v = e.reduceMean(sq, axes, saved(n, 'var'));
  const std = e.node('Sqrt', [e.node('Add', [v, e.f32(eps)], saved(n, 'varEps'))], saved(n, 'std'));
  const rstd = e.node('Reciprocal', [std], saved(n, 'rstd'));
  e.node('Mul', [xc, rstd], saved(n, 'xhat'));
}

/** y = x̂·γ + β with γ, β broadcast per channel. */
function affine(e: OnnxEmitter, n: IRNode, xhat: string, c: number, out: string): void {
  const cShape = e.i64([c, 1, 1]);
  const gamma = e.node('Reshape', [n.inputs[1], cShape], saved(n, 'gamma'));
  const beta = e.node('Reshape', [n.inputs[2], cShape], saved(n, 'beta'));
  e.node('Add', [e.node('Mul', [xhat, gamma], saved(n, 'scaled')), beta], out);
}

/** The fused input gradient of a standardisation over `axes`. */
function standardizeGrad(g: GradCtx, dxhat: string, xhat: string, rstd: string, axes: number[], out: string): void {
  const m1 = g.e.reduceMean(dxhat, axes, g.tmp('meanDxhat'));
  const prod = g.e.node('Mul', [dxhat, xhat], g.tmp('dxhatXhat'));
  const m2 = g.e.reduceMean(prod, axes, g.tmp('meanDxhatXhat'));
  const centred = g.e.node('Sub', [dxhat, m1], g.tmp('centred'));
  const t = g.e.node('Sub', [centred, g.e.node('Mul', [xhat, m2], g.tmp('xhatM2'))], g.tmp('t'));
  g.e.node('Mul', [t, rstd], out);
}

/** dγ = Σ dy·x̂ and dβ = Σ dy over batch and space. */
function affineGrad(g: GradCtx, dy: string, xhat: string): void {
  if (g.needs(1)) g.e.reduceSum(g.e.node('Mul', [dy, xhat], g.tmp('dyXhat')), CHANNEL_AXES, g.GI(1), false);
  if (g.needs(2)) g.e.reduceSum(dy, CHANNEL_AXES, g.GI(2), false);
}

export const groupNormOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    const a = n.attrs as GroupNormAttrs;
    if (c.tuning.norm === 'fused') return lowerGroupNorm(c, n, a.groups, a.eps);
    const [, ch, h, w] = spatial(c.net, n.inputs[0], n.name);
    const xr = c.e.node('Reshape', [n.inputs[0], c.e.i64([0, a.groups, -1])], saved(n, 'xr'));
    standardize(c.e, n, xr, [2], a.eps);
    const xhat = c.e.node('Reshape', [saved(n, 'xhat'), c.e.i64([0, ch, h, w])], saved(n, 'xhat4'));
    affine(c.e, n, xhat, ch, n.outputs[0]);
  },
  backward(g: GradCtx, n: IRNode) {
    const a = n.attrs as GroupNormAttrs;
    if (g.tuning.norm === 'fused') return standardizedAffineGrad(g, n, a.groups, saved(n, 'xhat4'), saved(n, 'rstd'));
    const [, ch, h, w] = spatial(g.net, n.inputs[0], n.name);
    const dy = g.GO(0)!;
    affineGrad(g, dy, saved(n, 'xhat4'));
    if (!g.needs(0)) return;
    const dxhat = g.e.node('Mul', [dy, saved(n, 'gamma')], g.tmp('dxhat'));
    const dxr = g.e.node('Reshape', [dxhat, g.e.i64([0, a.groups, -1])], g.tmp('dxhatR'));
    standardizeGrad(g, dxr, saved(n, 'xhat'), saved(n, 'rstd'), [2], g.tmp('dxR'));
    g.e.node('Reshape', [g.tmp('dxR'), g.e.i64([0, ch, h, w])], g.GI(0));
  },
};

/** Batch statistics are used only when the layer is in training mode and the graph trains. */
function usesBatchStats(c: LowerCtx, n: IRNode): boolean {
  return (n.attrs as BatchNormAttrs).mode === 'train' && c.mode === 'train';
}

export const batchNormOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    const a = n.attrs as BatchNormAttrs;
    const [x, , , rm, rv] = n.inputs;
    const [, ch, h, w] = spatial(c.net, x, n.name);
    const e = c.e;
    if (usesBatchStats(c, n)) {
      standardize(e, n, x, CHANNEL_AXES, a.eps);
      affine(e, n, saved(n, 'xhat'), ch, n.outputs[0]);
      // torch updates running_var with the unbiased batch variance: var·M/(M−1), M = N·H·W.
      const batch = e.node('Cast', [e.node('Shape', [x], saved(n, 'batch'), { end: 1 })], saved(n, 'batchF'), { to: 1 });
      const count = e.node('Mul', [batch, e.f32(h * w)], saved(n, 'count'));
      const unbiased = e.node('Div', [count, e.node('Sub', [count, e.f32(1)], saved(n, 'countM1'))], saved(n, 'bessel'));
      const vec = e.i64([ch]);
      const update = (buf: string, stat: string, tag: string) => {
        const old = e.node('Mul', [buf, e.f32(1 - a.momentum)], saved(n, `${tag}Old`));
        const neu = e.node('Mul', [stat, e.f32(a.momentum)], saved(n, `${tag}New`));
        e.node('Add', [old, neu], c.bufferUpdate(buf));
      };
      update(rm, e.node('Reshape', [saved(n, 'mean'), vec], saved(n, 'meanC')), 'mean');
      const varC = e.node('Reshape', [saved(n, 'var'), vec], saved(n, 'varC'));
      update(rv, e.node('Mul', [varC, unbiased], saved(n, 'varUnbiased')), 'var');
      return;
    }
    if (c.tuning.norm === 'fused') return lowerFrozenBatchNorm(c, n, a.eps);
    // Running statistics fold into one per-channel scale and shift.
    const rstd = e.node('Reciprocal', [e.node('Sqrt', [e.node('Add', [rv, e.f32(a.eps)], saved(n, 'varEps'))], saved(n, 'std'))], saved(n, 'rstd'));
    const scale = e.node('Mul', [n.inputs[1], rstd], saved(n, 'scale'));
    const shift = e.node('Sub', [n.inputs[2], e.node('Mul', [rm, scale], saved(n, 'meanScale'))], saved(n, 'shift'));
    const cShape = e.i64([ch, 1, 1]);
    const scaleR = e.node('Reshape', [scale, cShape], saved(n, 'scaleR'));
    const shiftR = e.node('Reshape', [shift, cShape], saved(n, 'shiftR'));
    e.node('Add', [e.node('Mul', [x, scaleR], saved(n, 'scaled')), shiftR], n.outputs[0]);
  },
  backward(g: GradCtx, n: IRNode) {
    const dy = g.GO(0)!;
    const fused = g.tuning.norm === 'fused';
    if (usesBatchStats(g, n) && fused) return standardizedAffineGrad(g, n, 'batch', saved(n, 'xhat'), saved(n, 'rstd'));
    if (fused) return frozenBatchNormGrad(g, n, (n.attrs as BatchNormAttrs).eps);
    if (usesBatchStats(g, n)) {
      affineGrad(g, dy, saved(n, 'xhat'));
      if (!g.needs(0)) return;
      const dxhat = g.e.node('Mul', [dy, saved(n, 'gamma')], g.tmp('dxhat'));
      standardizeGrad(g, dxhat, saved(n, 'xhat'), saved(n, 'rstd'), CHANNEL_AXES, g.GI(0));
      return;
    }
    // Frozen: y = x·scale + shift with constant statistics, so dx = dy·scale and
    // dγ = rstd·Σ dy·(x − running_mean) (x̂ is not materialised in the forward pass).
    if (g.needs(0)) g.e.node('Mul', [dy, saved(n, 'scaleR')], g.GI(0));
    if (g.needs(1)) {
      const ch = g.net.shape(n.inputs[0])[1] as number;
      const rmR = g.e.node('Reshape', [n.inputs[3], g.e.i64([ch, 1, 1])], g.tmp('meanR'));
      const xc = g.e.node('Sub', [n.inputs[0], rmR], g.tmp('xc'));
      const s = g.e.reduceSum(g.e.node('Mul', [dy, xc], g.tmp('dyXc')), CHANNEL_AXES, g.tmp('sumDyXc'), false);
      g.e.node('Mul', [s, saved(n, 'rstd')], g.GI(1));
    }
    if (g.needs(2)) g.e.reduceSum(dy, CHANNEL_AXES, g.GI(2), false);
  },
};
