// Float64 reference for onnxruntime's com.microsoft.nchwc ops as src/graph/ops/nchwc.ts uses them:
// ReorderInput / ReorderOutput really block and unblock the data ([N, C/B, H, W, B]), and Conv
// unpacks its filter from the blocked layout before a plain convolution, so a wrong in-graph
// reorder shows up as a wrong result, as it would in ORT. B is the block the graph was built for.
import * as nn from './nn.js';
import type { RTensor } from './tensor.js';
import { zeros } from './tensor.js';

const roundUp = (c: number, b: number) => Math.ceil(c / b) * b;

/** NCHW → NCHWc: dims [N, C rounded up to B, H, W], data ordered [N][C/B][H][W][B], zero-padded. */
export function reorderInput(x: RTensor, B: number): RTensor {
  const [N, C, H, W] = x.dims, Cp = roundUp(C, B), P = H * W;
  const y = zeros([N, Cp, H, W]);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let p = 0; p < P; p++) y.data[((n * (Cp / B) + Math.floor(c / B)) * P + p) * B + (c % B)] = x.data[(n * C + c) * P + p];
  return y;
}

/** NCHWc → NCHW, keeping the first `channels` channels. */
export function reorderOutput(x: RTensor, B: number, channels: number): RTensor {
  const [N, Cp, H, W] = x.dims, P = H * W;
  const y = zeros([N, channels, H, W]);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < channels; c++)
      for (let p = 0; p < P; p++) y.data[(n * channels + c) * P + p] = x.data[((n * (Cp / B) + Math.floor(c / B)) * P + p) * B + (c % B)];
  return y;
}

/** The OIHW filter inside a blocked one: OIHWBiBo when the input is blocked, OIHWBo when it is NCHW. */
function unpackFilter(w: RTensor, B: number, blockedInput: boolean): RTensor {
  const [Co, Ci, KH, KW] = w.dims, K = KH * KW;
  const out = zeros(w.dims);
  for (let o = 0; o < Co; o++)
    for (let i = 0; i < Ci; i++)
      for (let k = 0; k < K; k++) {
        const ob = Math.floor(o / B), oi = o % B;
        const src = blockedInput
          ? (((ob * (Ci / B) + Math.floor(i / B)) * K + k) * B + (i % B)) * B + oi
          : ((ob * Ci + i) * K + k) * B + oi;
        out.data[(o * Ci + i) * K + k] = w.data[src];
      }
  return out;
}

/** com.microsoft.nchwc Conv: x blocked (or NCHW when the filter has fewer than B input channels). */
export function conv(x: RTensor, w: RTensor, b: RTensor | undefined, p: nn.ConvParams, B: number, activation: string): RTensor {
  const blockedInput = w.dims[1] >= B;
  const plain = blockedInput ? reorderOutput(x, B, w.dims[1]) : x;
  const y = nn.conv(plain, unpackFilter(w, B, blockedInput), b, p);
  if (activation === 'Relu') for (let i = 0; i < y.data.length; i++) y.data[i] = Math.max(0, y.data[i]);
  else if (activation) throw new Error(`nchwc Conv: activation ${activation} unsupported`);
  return reorderInput(y, B);
}
