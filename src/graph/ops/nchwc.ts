// Conv2d through ONNX Runtime's NCHWc kernels (domain com.microsoft.nchwc): a direct convolution
// over channel-blocked activations [N, C/B, H, W, B]. ORT only picks these itself for constant
// weights, and a training graph feeds its weights, so the graph reorders them in-graph (a few
// hundred KB per layer) and calls the kernels directly; measured ~1.3× faster than the im2col +
// GEMM that a plain Conv with fed weights runs. B is the machine's block size (session.ts probes it).
import type { OnnxEmitter } from '../onnx-builder.js';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

export interface NchwcConvShape {
  /** Input and output channels of the convolution as run (for dX: the forward's Co and Ci). */
  ci: number;
  co: number;
  /** Kernel height and width. */
  kh: number;
  kw: number;
  stride: number;
  /** ONNX order: top, left, bottom, right. */
  pads: number[];
  groups: number;
}

/**
 * Whether the blocked kernels take this convolution: no groups, output channels in whole blocks,
 * and input channels either in whole blocks or fewer than one block (then the input stays NCHW).
 */
export function nchwcFits(s: NchwcConvShape, block: number): boolean {
  return block > 0 && s.groups === 1 && s.co % block === 0 && (s.ci % block === 0 || s.ci < block);
}

/**
 * The filter in the layout the kernel reads: OIHWBiBo ([Co/B, Ci/B, kh, kw, B_i, B_o]) for
 * blocked input, OIHWBo ([Co/B, Ci, kh, kw, B_o]) for NCHW input. `transposed`: the filter is
 * w with its two channel axes swapped (w is [Ci, Co, kh, kw] for a [Co]-output convolution);
 * `flip`: its kernel also turned by 180° (dX of a stride-1 conv). Returned as a [Co, Ci, kh, kw]
 * value, the shape the kernel takes its geometry from.
 *
 * One 6-D Transpose does it, but ORT runs such a permutation element by element (~0.8 ms for a
 * 128×128×3×3 filter); instead a 3-D transpose that moves one axis (MLAS's fast 2-D transpose)
 * brings the output-channel lanes innermost, and a second one moves 16-float rows.
 */
function reorderFilter(e: OnnxEmitter, w: string, s: NchwcConvShape, block: number, o: { transposed: boolean; flip: boolean }, tmp: (t: string) => string): string {
  const B = block, kk = s.kh * s.kw;
  const blockedIn = s.ci % B === 0;
  let lanes: string; // [·, kk, B_o] rows with the output lane innermost
  let perm: number[], split: number[];
  if (!o.transposed) {
    // [Co/B, B_o, Ci·kk] → [Co/B, Ci·kk, B_o]
    lanes = e.node('Transpose', [e.node('Reshape', [w, e.i64([s.co / B, B, s.ci * kk])], tmp('wRows'))], tmp('wLanes'), { perm: [0, 2, 1] });
    if (!blockedIn) return e.node('Reshape', [lanes, e.i64([s.co, s.ci, s.kh, s.kw])], tmp('wNchwc'));
    // [Co/B·Ci/B, B_i, kk, B_o] → [Co/B·Ci/B, kk, B_i, B_o]
    split = [(s.co / B) * (s.ci / B), B, kk, B];
    perm = [0, 2, 1, 3];
  } else {
    // w [Ci, Co, kk] → [Ci, kk, Co]; the flip reverses the kk taps (rows of Co floats).
    let t = e.node('Transpose', [e.node('Reshape', [w, e.i64([s.ci, s.co, kk])], tmp('wRows'))], tmp('wLanes'), { perm: [0, 2, 1] });
    if (o.flip) t = e.node('Gather', [t, e.constI64(`taps/reversed/${kk}`, () => Array.from({ length: kk }, (_, j) => kk - 1 - j))], tmp('wFlip'), { axis: 1 });
    lanes = t;
    if (blockedIn) {
      // [Ci/B, B_i, kk, Co/B, B_o] → [Co/B, Ci/B, kk, B_i, B_o]
      split = [s.ci / B, B, kk, s.co / B, B];
      perm = [3, 0, 2, 1, 4];
    } else {
      // [Ci, kk, Co/B, B_o] → [Co/B, Ci, kk, B_o]
      split = [s.ci, kk, s.co / B, B];
      perm = [2, 0, 1, 3];
    }
  }
  const blocked = e.node('Transpose', [e.node('Reshape', [lanes, e.i64(split)], tmp('wSplit'))], tmp('wBlocked'), { perm });
  return e.node('Reshape', [blocked, e.i64([s.co, s.ci, s.kh, s.kw])], tmp('wNchwc'));
}

/**
 * y = conv(x, w) + bias (optionally ReLU'd), x and y NCHW; internally ReorderInput → NCHWc Conv
 * → ReorderOutput. `transposed` and `flip` as in reorderFilter (both for dX of a stride-1 conv).
 */
export function nchwcConv(
  e: OnnxEmitter,
  x: string,
  w: string,
  bias: string | undefined,
  s: NchwcConvShape,
  block: number,
  out: string,
  o: { transposed?: boolean; flip?: boolean; relu?: boolean; tmp: (t: string) => string },
): string {
  const xb = s.ci % block === 0 ? e.node('ReorderInput', [x], o.tmp('xNchwc'), {}, NCHWC_DOMAIN) : x;
  const wb = reorderFilter(e, w, s, block, { transposed: o.transposed ?? false, flip: o.flip ?? false }, o.tmp);
  const attrs = {
    kernel_shape: [s.kh, s.kw],
    strides: [s.stride, s.stride],
    pads: s.pads,
    ...(o.relu ? { activation: 'Relu' } : {}),
  };
  const yb = e.node('Conv', bias ? [xb, wb, bias] : [xb, wb], o.tmp('yNchwc'), attrs, NCHWC_DOMAIN);
  return e.node('ReorderOutput', [yb], out, { channels: s.co }, NCHWC_DOMAIN);
}
