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
 * w with its two channel axes swapped (w is [Ci, Co, kh, kw] for a [Co]-output convolution),
 * done in the same Transpose. Returned as a [Co, Ci, kh, kw] value, the shape the kernel takes
 * its geometry from.
 */
function reorderFilter(e: OnnxEmitter, w: string, s: NchwcConvShape, block: number, transposed: boolean, tmp: (t: string) => string): string {
  const B = block, kk = [s.kh, s.kw];
  let split: number[], perm: number[];
  if (s.ci % B === 0) {
    // Axes after the split: o-block, o-in-block, i-block, i-in-block, kh, kw (or i/o swapped).
    split = transposed ? [s.ci / B, B, s.co / B, B, ...kk] : [s.co / B, B, s.ci / B, B, ...kk];
    perm = transposed ? [2, 0, 4, 5, 1, 3] : [0, 2, 4, 5, 3, 1];
  } else {
    split = transposed ? [s.ci, s.co / B, B, ...kk] : [s.co / B, B, s.ci, ...kk];
    perm = transposed ? [1, 0, 3, 4, 2] : [0, 2, 3, 4, 1];
  }
  const blocked = e.node('Transpose', [e.node('Reshape', [w, e.i64(split)], tmp('wSplit'))], tmp('wBlocked'), { perm });
  return e.node('Reshape', [blocked, e.i64([s.co, s.ci, s.kh, s.kw])], tmp('wNchwc'));
}

/**
 * y = conv(x, w) + bias (optionally ReLU'd), x and y NCHW; internally ReorderInput → NCHWc Conv
 * → ReorderOutput. `transposed` as in reorderFilter (dX of a stride-1 conv: w flipped by the caller).
 */
export function nchwcConv(
  e: OnnxEmitter,
  x: string,
  w: string,
  bias: string | undefined,
  s: NchwcConvShape,
  block: number,
  out: string,
  o: { transposed?: boolean; relu?: boolean; tmp: (t: string) => string },
): string {
  const xb = s.ci % block === 0 ? e.node('ReorderInput', [x], o.tmp('xNchwc'), {}, NCHWC_DOMAIN) : x;
  const wb = reorderFilter(e, w, s, block, o.transposed ?? false, o.tmp);
  const attrs = {
    kernel_shape: [s.kh, s.kw],
    strides: [s.stride, s.stride],
    pads: s.pads,
    ...(o.relu ? { activation: 'Relu' } : {}),
  };
  const yb = e.node('Conv', bias ? [xb, wb, bias] : [xb, wb], o.tmp('yNchwc'), attrs, NCHWC_DOMAIN);
  return e.node('ReorderOutput', [yb], out, { channels: s.co }, NCHWC_DOMAIN);
}
