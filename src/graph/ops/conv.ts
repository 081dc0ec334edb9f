// Conv2d (square kernel, stride, padding, groups incl. depthwise, optional bias; dilation 1).
// Backward uses the formulations measured fastest on ORT CPU (ort-training-prototype.md §1, §3,
// src/bench/train.ts): dX by Conv with the flipped kernel (stride 1) or ConvTranspose; dW by a
// Gather im2col + one Gemm (the batch innermost by default, batch-major as a lever), or by
// one-hot im2col + MatMul for layers with few input channels.
import type { Attrs, IRNode, Net } from '../ir.js';
import type { GradCtx, LowerCtx, OpDef } from '../op.js';
import { saved } from '../op.js';
import type { NchwcConvShape } from './nchwc.js';
import { nchwcConv, nchwcFits } from './nchwc.js';
import { appendZeros, spatial } from './shape.js';
import { winogradBackward, winogradForward, winogradTile } from './winograd.js';

export interface ConvAttrs extends Attrs {
  k: number;
  stride: number;
  pad: number;
  groups: number;
  bias: boolean;
}

export interface ConvOptions {
  out: number;
  k: number;
  stride?: number;
  pad?: number;
  groups?: number;
  bias?: boolean;
  /** 'torch': nn.Conv2d's default; 'fan_out_normal': torchvision ResNet's kaiming_normal_(fan_out, relu). */
  init?: 'torch' | 'fan_out_normal';
}

export function conv2d(net: Net, name: string, x: string, o: ConvOptions): string {
  const [n, ci, h, w] = spatial(net, x, name);
  const a: ConvAttrs = { k: o.k, stride: o.stride ?? 1, pad: o.pad ?? 0, groups: o.groups ?? 1, bias: o.bias ?? true };
  if (ci % a.groups || o.out % a.groups) throw new Error(`${name}: channels ${ci}→${o.out} not divisible by groups ${a.groups}`);
  const fanIn = (ci / a.groups) * a.k * a.k;
  const inputs = [
    x,
    net.param(`${name}.weight`, [o.out, ci / a.groups, a.k, a.k],
      o.init === 'fan_out_normal'
        ? { kind: 'normal', std: Math.sqrt(2 / (o.out * a.k * a.k)) }
        : { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) }), // kaiming_uniform(a=√5) = U(±1/√fan_in)
  ];
  if (a.bias) inputs.push(net.param(`${name}.bias`, [o.out], { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) }));
  const ho = Math.floor((h + 2 * a.pad - a.k) / a.stride) + 1;
  const wo = Math.floor((w + 2 * a.pad - a.k) / a.stride) + 1;
  if (ho < 1 || wo < 1) throw new Error(`${name}: input ${h}×${w} too small for kernel ${a.k}`);
  return net.add('Conv2d', name, inputs, [[n, o.out, ho, wo]], a)[0];
}

function convAttrs(a: ConvAttrs, pad = a.pad, stride = a.stride) {
  return { kernel_shape: [a.k, a.k], strides: [stride, stride], pads: [pad, pad, pad, pad], group: a.groups };
}

/** The NCHWc block to run this convolution with, or 0 for the standard Conv. */
function nchwcBlock(c: LowerCtx, s: NchwcConvShape): number {
  return c.tuning.convLayout === 'nchwc' && nchwcFits(s, c.nchwcBlock) ? c.nchwcBlock : 0;
}

export const conv: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    const a = n.attrs as ConvAttrs;
    const [, ci] = spatial(c.net, n.inputs[0], n.name);
    const [, co] = spatial(c.net, n.outputs[0], n.name);
    const tile = winogradTile(c, { ...a, ci, co });
    if (tile) return winogradForward(c, n, tile);
    const s = { ci, co, kh: a.k, kw: a.k, stride: a.stride, pads: [a.pad, a.pad, a.pad, a.pad], groups: a.groups };
    const block = nchwcBlock(c, s);
    if (!block) return void c.e.node('Conv', n.inputs, n.outputs[0], convAttrs(a));
    // A ReLU that is the only reader of the output runs inside the kernel (ORT fuses Conv+Relu
    // itself, but not around the reorder); reluOp then finds its output already produced.
    const readers = c.net.nodes.filter((m) => m.inputs.includes(n.outputs[0]));
    const relu = readers.length === 1 && readers[0].op === 'ReLU' ? readers[0] : undefined;
    nchwcConv(c.e, n.inputs[0], n.inputs[1], n.inputs[2], s, block, relu ? relu.outputs[0] : n.outputs[0], { relu: !!relu, tmp: (t) => saved(n, t) });
  },

  backward(g: GradCtx, n: IRNode) {
    const a = n.attrs as ConvAttrs;
    const dy = g.GO(0)!;
    const [, ci] = spatial(g.net, g.I(0), n.name);
    const [, co] = spatial(g.net, g.O(0), n.name);
    const tile = winogradTile(g, { ...a, ci, co });
    if (tile) return winogradBackward(g, n, dy, tile);
    if (g.needs(0)) inputGrad(g, a, dy);
    // The batch-minor dW leaves dY as [Co, P·N]: summing its rows reads contiguous memory just written.
    const dyRows = g.needs(1) ? weightGrad(g, a, dy) : undefined;
    if (a.bias && g.needs(2)) {
      if (dyRows) g.e.reduceSum(dyRows, [1], g.GI(2), false);
      else g.e.reduceSum(dy, [0, 2, 3], g.GI(2), false);
    }
  },
};

/**
 * Output pixels from which stride-1 dX runs as a Conv with the flipped, transposed kernel. On
 * smaller maps (ResNet's last stages) transposing and flipping the weights costs more than the
 * convolution itself, so ConvTranspose (which reads W as it is) goes there instead.
 */
export const FLIP_MIN_PIXELS = 49;

function inputGrad(g: GradCtx, a: ConvAttrs, dy: string): void {
  const [, ci, h, w] = spatial(g.net, g.I(0), g.n.name);
  const [, co, ho, wo] = spatial(g.net, g.O(0), g.n.name);
  const W = g.I(1);
  const mode = g.tuning.convInputGrad;
  const p1 = a.k - 1 - a.pad;
  const dxShape = { ci: co, co: ci, kh: a.k, kw: a.k, stride: 1, pads: [p1, p1, p1, p1], groups: a.groups };
  const block = nchwcBlock(g, dxShape);
  // The blocked kernel has no reorder-the-weights overhead to weigh against small maps.
  const flip = mode === 'conv' || (mode === 'auto' && (block > 0 || ho * wo >= FLIP_MIN_PIXELS));
  if (a.stride === 1 && a.pad <= a.k - 1 && flip) {
    // Stride 1: a Conv of dY with the kernel flipped and its in/out channels swapped.
    let wt = W;
    if (block) {
      nchwcConv(g.e, dy, W, undefined, dxShape, block, g.GI(0), { transposed: true, flip: a.k > 1, tmp: g.tmp.bind(g) });
      return;
    }
    const cig = ci / a.groups, cog = co / a.groups;
    if (a.groups === 1) {
      wt = g.e.node('Transpose', [W], g.tmp('wT'), { perm: [1, 0, 2, 3] });
    } else if (cig > 1 || cog > 1) {
      const w5 = g.e.node('Reshape', [W, g.e.i64([a.groups, cog, cig, a.k, a.k])], g.tmp('w5'));
      const t5 = g.e.node('Transpose', [w5], g.tmp('w5T'), { perm: [0, 2, 1, 3, 4] });
      wt = g.e.node('Reshape', [t5, g.e.i64([ci, cog, a.k, a.k])], g.tmp('wT'));
    }
    if (a.k > 1) wt = g.e.node('Slice', [wt, ...flipAxes(g, a.k)], g.tmp('wFlip'));
    g.e.node('Conv', [dy, wt], g.GI(0), convAttrs(a, a.k - 1 - a.pad, 1));
  } else {
    // The extra rows/cols a strided conv never reached come back as output_padding.
    const outPad = [(h + 2 * a.pad - a.k) % a.stride, (w + 2 * a.pad - a.k) % a.stride];
    g.e.node('ConvTranspose', [dy, W], g.GI(0), { ...convAttrs(a), output_padding: outPad });
  }
}

/** Slice inputs reversing the two kernel axes of a [·, ·, k, k] filter. */
function flipAxes(g: GradCtx, k: number): string[] {
  return [g.e.i64([k - 1, k - 1]), g.e.i64([-k - 1, -k - 1]), g.e.i64([2, 3]), g.e.i64([-1, -1])];
}

/** Input channels per group from which the Gather im2col is used (measured on 28×28 maps: one-hot wins at 8, even at 16, Gather wins from 32). */
export const GATHER_MIN_CHANNELS = 16;

/** Emits dW; returns dY as [Co, P·N] when the formulation made it (for the bias gradient). */
function weightGrad(g: GradCtx, a: ConvAttrs, dy: string): string | undefined {
  const [, ci] = spatial(g.net, g.I(0), g.n.name);
  const pointwise = a.k === 1 && a.stride === 1 && a.pad === 0;
  const mode = g.tuning.convWeightGrad;
  const gather = !pointwise && (mode === 'gather' || mode === 'batchMinor' || (mode === 'auto' && ci / a.groups >= GATHER_MIN_CHANNELS));
  if (!gather) oneHotWeightGrad(g, a, dy);
  else if (mode === 'gather') gatherWeightGrad(g, a, dy);
  else return batchMinorWeightGrad(g, a, dy);
  return undefined;
}

/**
 * The im2col gather index of this layer, made once per geometry: for every (output pixel, tap)
 * the input position y·w + x it reads, or h·w (the appended zero) in the padding. Ordered by
 * pixel then tap ('positionMajor', the batch-major formulation) or by tap then pixel ('tapMajor').
 */
function tapIndex(g: GradCtx, a: ConvAttrs, order: 'positionMajor' | 'tapMajor'): string {
  const [, , h, w] = spatial(g.net, g.I(0), g.n.name);
  const [, , ho, wo] = spatial(g.net, g.O(0), g.n.name);
  const key = `im2col/${order === 'positionMajor' ? 'rows' : 'taps'}/${h}x${w}/k${a.k}s${a.stride}p${a.pad}`;
  return g.e.constI64(key, () => {
    const source = (p: number, t: number) => {
      const sy = a.stride * Math.floor(p / wo) + Math.floor(t / a.k) - a.pad, sx = a.stride * (p % wo) + (t % a.k) - a.pad;
      return sy >= 0 && sy < h && sx >= 0 && sx < w ? sy * w + sx : h * w;
    };
    const P = ho * wo, kk = a.k * a.k, idx: number[] = [];
    if (order === 'positionMajor') for (let p = 0; p < P; p++) for (let t = 0; t < kk; t++) idx.push(source(p, t));
    else for (let t = 0; t < kk; t++) for (let p = 0; p < P; p++) idx.push(source(p, t));
    return idx;
  });
}

/**
 * dW = dY[Co, N·P] · cols[N·P, k²·Ci] in one Gemm (per group). cols
 * gathers whole NHWC rows (Ci contiguous floats per tap) from X with one zero row appended for the
 * padding taps: the im2col costs one row copy per (position, tap) instead of a 9-output-channel
 * Conv plus its NCHWc reorder, and the sum over the batch happens inside the Gemm (K = N·P)
 * instead of a batched MatMul + ReduceSum.
 */
function gatherWeightGrad(g: GradCtx, a: ConvAttrs, dy: string): void {
  const [, ci, h, w] = spatial(g.net, g.I(0), g.n.name);
  const [, co, ho, wo] = spatial(g.net, g.O(0), g.n.name);
  const e = g.e, kk = a.k * a.k, G = a.groups, cig = ci / G, cog = co / G, P = ho * wo;
  const index = tapIndex(g, a, 'positionMajor');
  // One Gather + Gemm per group on its own NHWC rows; groups are split apart with Split, which
  // ORT does as block copies (a 4-D Transpose bringing the group axis first is far slower).
  const xs = G === 1 ? [g.I(0)] : splitGroups(g, g.I(0), G, 'x');
  const dys = G === 1 ? [dy] : splitGroups(g, dy, G, 'dy');
  const parts = xs.map((x, j) => {
    const t = (s: string) => g.tmp(G === 1 ? s : `${s}${j}`);
    const nhwc = e.node('Transpose', [e.node('Reshape', [x, e.i64([0, cig, h * w])], t('x3'))], t('xNhwc'), { perm: [0, 2, 1] });
    const rows = appendZeros(e, nhwc, nhwc, { before: [], after: [1, cig] }, 1, t('xRowsZ'));
    const cols = e.node('Reshape', [e.node('Gather', [rows, index], t('taps'), { axis: 1 }), e.i64([-1, kk * cig])], t('cols'));
    const dt = e.node('Transpose', [e.node('Reshape', [dys[j], e.i64([0, cog, P])], t('dy3'))], t('dyT'), { perm: [1, 0, 2] });
    return e.node('Gemm', [e.node('Reshape', [dt, e.i64([cog, -1])], t('dy2')), cols], t('dw2'));
  });
  const gw = G === 1 ? parts[0] : e.node('Concat', parts, g.tmp('dw2'), { axis: 0 });
  const w4 = e.node('Reshape', [gw, e.i64([co, a.k, a.k, cig])], g.tmp('dwHwc'));
  e.node('Transpose', [w4], g.GI(1), { perm: [0, 3, 1, 2] });
}

/**
 * dWᵀ = cols[k²·Ci, P·N] · dY[Co, P·N]ᵀ in one Gemm (per group), with the batch as the innermost
 * axis of both. MLAS packs only its B operand and reads A in place, so putting the im2col (the
 * big matrix: k²·Ci × P·N) first leaves just dY (Co × P·N) to pack, where the batch-major
 * formulation above packs the whole im2col. cols gathers rows of N floats from X laid out
 * [Ci, H·W + 1, N] (the extra position is the zero padding tap).
 */
function batchMinorWeightGrad(g: GradCtx, a: ConvAttrs, dy: string): string {
  const [, ci, h, w] = spatial(g.net, g.I(0), g.n.name);
  const [, co, ho, wo] = spatial(g.net, g.O(0), g.n.name);
  const e = g.e, kk = a.k * a.k, G = a.groups, cig = ci / G, cog = co / G, P = ho * wo;
  const index = tapIndex(g, a, 'tapMajor');
  const x3 = e.node('Reshape', [g.I(0), e.i64([0, ci, h * w])], g.tmp('x3'));
  const xt = e.node('Transpose', [x3], g.tmp('xBatchMinor'), { perm: [1, 2, 0] }); // [Ci, HW, N]
  const rows = appendZeros(e, xt, x3, { before: [ci, 1], after: [] }, 1, g.tmp('xRowsZ'));
  const taps = e.node('Gather', [rows, index], g.tmp('taps'), { axis: 1 }); // [Ci, k²·P, N]
  const cols = e.node('Reshape', [taps, e.i64([ci * kk, -1])], g.tmp('cols'));
  const dy3 = e.node('Reshape', [dy, e.i64([0, co, P])], g.tmp('dy3'));
  const d2 = e.node('Reshape', [e.node('Transpose', [dy3], g.tmp('dyT'), { perm: [1, 2, 0] }), e.i64([co, -1])], g.tmp('dy2'));
  const colsG = G === 1 ? [cols] : splitGroups(g, cols, G, 'cols', 0);
  const dyG = G === 1 ? [d2] : splitGroups(g, d2, G, 'dy', 0);
  // Per group [cig·k², cog]; side by side they are [cig·k², Co] in group order.
  const parts = colsG.map((c, j) => e.node('Gemm', [c, dyG[j]], g.tmp(G === 1 ? 'dwT' : `dwT${j}`), { transB: 1 }));
  const dwt = G === 1 ? parts[0] : e.node('Concat', parts, g.tmp('dwT'), { axis: 1 });
  const t3 = e.node('Transpose', [e.node('Reshape', [dwt, e.i64([cig, kk, co])], g.tmp('dwTTaps'))], g.tmp('dw3'), { perm: [2, 0, 1] });
  e.node('Reshape', [t3, e.i64([co, cig, a.k, a.k])], g.GI(1));
  return d2;
}

/** The G equal blocks of a value along `axis` (channels of NCHW by default), as G separate values. */
function splitGroups(g: GradCtx, v: string, G: number, tag: string, axis = 1): string[] {
  const outs = Array.from({ length: G }, (_, j) => g.tmp(`${tag}Group${j}`));
  g.e.node('Split', [v], outs, { axis });
  return outs;
}

/** dW[co, ci·k²] = Σ_n,p dY[n, co, p] · cols[n, ci·k², p], with cols from a one-hot-kernel Conv. */
function oneHotWeightGrad(g: GradCtx, a: ConvAttrs, dy: string): void {
  const [, ci, h, w] = spatial(g.net, g.I(0), g.n.name);
  const [, co, ho, wo] = spatial(g.net, g.O(0), g.n.name);
  const kk = a.k * a.k, P = ho * wo, G = a.groups;
  let cols: string;
  if (a.k === 1 && a.stride === 1 && a.pad === 0) {
    cols = g.e.node('Reshape', [g.I(0), g.e.i64([0, ci, P])], g.tmp('cols'));
  } else {
    const xr = g.e.node('Reshape', [g.I(0), g.e.i64([-1, 1, h, w])], g.tmp('x1'));
    const kernel = g.e.constTensor(`im2col/k${a.k}`, [kk, 1, a.k, a.k], () => {
      const d = new Float32Array(kk * kk);
      for (let j = 0; j < kk; j++) d[j * kk + j] = 1;
      return d;
    });
    const patches = g.e.node('Conv', [xr, kernel], g.tmp('patches'), { ...convAttrs(a), group: 1 });
    cols = g.e.node('Reshape', [patches, g.e.i64([-1, ci * kk, P])], g.tmp('cols'));
  }
  const wShape = g.e.i64([co, ci / G, a.k, a.k]);
  if (G > 1 || co <= P) {
    // Batched MatMul per example (and group), then a sum over the batch.
    const d = g.e.node('Reshape', [dy, g.e.i64(G > 1 ? [0, G, co / G, P] : [0, co, P])], g.tmp('dy3'));
    const cg = G > 1 ? g.e.node('Reshape', [cols, g.e.i64([0, G, (ci / G) * kk, P])], g.tmp('colsG')) : cols;
    const ct = g.e.node('Transpose', [cg], g.tmp('colsT'), { perm: G > 1 ? [0, 1, 3, 2] : [0, 2, 1] });
    const prod = g.e.node('MatMul', [d, ct], g.tmp('dwN'));
    const sum = g.e.reduceSum(prod, [0], g.tmp('dwSum'), false);
    g.e.node('Reshape', [sum, wShape], g.GI(1));
  } else {
    // Wide layers (Co > Ho·Wo): one Gemm with K = N·Ho·Wo.
    const d3 = g.e.node('Reshape', [dy, g.e.i64([0, co, P])], g.tmp('dy3'));
    const dt = g.e.node('Transpose', [d3], g.tmp('dyT'), { perm: [1, 0, 2] });
    const d2 = g.e.node('Reshape', [dt, g.e.i64([co, -1])], g.tmp('dy2'));
    const ctr = g.e.node('Transpose', [cols], g.tmp('colsT'), { perm: [1, 0, 2] });
    const c2 = g.e.node('Reshape', [ctr, g.e.i64([ci * kk, -1])], g.tmp('cols2'));
    const gw = g.e.node('Gemm', [d2, c2], g.tmp('dw2'), { transB: 1 });
    g.e.node('Reshape', [gw, wShape], g.GI(1));
  }
}
