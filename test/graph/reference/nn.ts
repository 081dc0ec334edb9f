// Float64 reference kernels for the heavier ONNX ops the graph compiler emits: Conv,
// ConvTranspose (groups, strides, pads, output_padding; dilation 1), Gemm, MatMul, MaxPool with
// Indices, GlobalAveragePool, SoftmaxCrossEntropyLoss, OneHot, ScatterElements. Plain loops.
import type { RTensor } from './tensor.js';
import { broadcastDims, coords, flatIndex, size, stridesOf, zeros } from './tensor.js';

export interface ConvParams {
  strides: number[];
  pads: number[];
  group: number;
  outputPadding?: number[];
}

export function conv(x: RTensor, w: RTensor, b: RTensor | undefined, p: ConvParams): RTensor {
  const [N, C, H, W] = x.dims;
  const [M, cg, KH, KW] = w.dims;
  const G = p.group, mg = M / G;
  if (cg * G !== C) throw new Error(`Conv: ${C} input channels vs weight [${w.dims}] with group ${G}`);
  const [sh, sw] = p.strides, [pt, pl, pb, pr] = p.pads;
  const OH = Math.floor((H + pt + pb - KH) / sh) + 1, OW = Math.floor((W + pl + pr - KW) / sw) + 1;
  const y = zeros([N, M, OH, OW]);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / mg);
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let acc = b ? b.data[m] : 0;
          for (let c = 0; c < cg; c++)
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * sh - pt + kh;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * sw - pl + kw;
                if (iw < 0 || iw >= W) continue;
                acc += x.data[((n * C + g * cg + c) * H + ih) * W + iw] * w.data[((m * cg + c) * KH + kh) * KW + kw];
              }
            }
          y.data[((n * M + m) * OH + oh) * OW + ow] = acc;
        }
    }
  return y;
}

/** The adjoint of conv: each input pixel scatters through the kernel into the output. */
export function convTranspose(x: RTensor, w: RTensor, b: RTensor | undefined, p: ConvParams): RTensor {
  const [N, C, H, W] = x.dims;
  const [, mg, KH, KW] = w.dims;
  const G = p.group, cg = C / G, M = mg * G;
  const [sh, sw] = p.strides, [pt, pl, pb, pr] = p.pads;
  const [oph, opw] = p.outputPadding ?? [0, 0];
  const OH = (H - 1) * sh + KH - pt - pb + oph, OW = (W - 1) * sw + KW - pl - pr + opw;
  const y = zeros([N, M, OH, OW]);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const g = Math.floor(c / cg);
      for (let ih = 0; ih < H; ih++)
        for (let iw = 0; iw < W; iw++) {
          const v = x.data[((n * C + c) * H + ih) * W + iw];
          for (let m = 0; m < mg; m++)
            for (let kh = 0; kh < KH; kh++) {
              const oh = ih * sh - pt + kh;
              if (oh < 0 || oh >= OH) continue;
              for (let kw = 0; kw < KW; kw++) {
                const ow = iw * sw - pl + kw;
                if (ow < 0 || ow >= OW) continue;
                y.data[((n * M + g * mg + m) * OH + oh) * OW + ow] += v * w.data[((c * mg + m) * KH + kh) * KW + kw];
              }
            }
        }
    }
  if (b) for (let i = 0; i < y.data.length; i++) y.data[i] += b.data[Math.floor(i / (OH * OW)) % M];
  return y;
}

export function gemm(a: RTensor, b: RTensor, c: RTensor | undefined, transA: boolean, transB: boolean): RTensor {
  const [M, K] = transA ? [a.dims[1], a.dims[0]] : a.dims;
  const [K2, Nn] = transB ? [b.dims[1], b.dims[0]] : b.dims;
  if (K !== K2) throw new Error(`Gemm: inner dims ${K} vs ${K2}`);
  const y = zeros([M, Nn]);
  const cs = c ? broadcastStridesFor(c.dims, [M, Nn]) : [0, 0];
  for (let i = 0; i < M; i++)
    for (let j = 0; j < Nn; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += a.data[transA ? k * M + i : i * K + k] * b.data[transB ? j * K + k : k * Nn + j];
      y.data[i * Nn + j] = acc + (c ? c.data[i * cs[0] + j * cs[1]] : 0);
    }
  return y;
}

function broadcastStridesFor(dims: number[], to: number[]): number[] {
  const s = stridesOf(dims);
  return to.map((_, i) => {
    const j = i - (to.length - dims.length);
    return j < 0 || dims[j] === 1 ? 0 : s[j];
  });
}

/** Batched matmul over leading dims (broadcast), both operands of rank ≥ 2. */
export function matmul(a: RTensor, b: RTensor): RTensor {
  const [M, K] = a.dims.slice(-2), [K2, Nn] = b.dims.slice(-2);
  if (K !== K2) throw new Error(`MatMul: inner dims ${K} vs ${K2}`);
  const batch = broadcastDims(a.dims.slice(0, -2), b.dims.slice(0, -2));
  const sa = broadcastStridesFor(a.dims.slice(0, -2), batch), sb = broadcastStridesFor(b.dims.slice(0, -2), batch);
  const y = zeros([...batch, M, Nn]);
  for (let t = 0; t < size(batch); t++) {
    const c = coords(t, batch);
    const oa = c.reduce((s, v, i) => s + v * sa[i], 0) * M * K, ob = c.reduce((s, v, i) => s + v * sb[i], 0) * K * Nn;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < Nn; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += a.data[oa + i * K + k] * b.data[ob + k * Nn + j];
        y.data[(t * M + i) * Nn + j] = acc;
      }
  }
  return y;
}

/** MaxPool and its Indices output (flat over N·C·H·W, first maximum wins). */
export function maxPool(x: RTensor, k: number[], strides: number[], pads: number[]): [RTensor, RTensor] {
  const [N, C, H, W] = x.dims;
  const OH = Math.floor((H + pads[0] + pads[2] - k[0]) / strides[0]) + 1, OW = Math.floor((W + pads[1] + pads[3] - k[1]) / strides[1]) + 1;
  const y = zeros([N, C, OH, OW]), idx = zeros([N, C, OH, OW], 'int64');
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity, at = -1;
        for (let kh = 0; kh < k[0]; kh++)
          for (let kw = 0; kw < k[1]; kw++) {
            const ih = oh * strides[0] - pads[0] + kh, iw = ow * strides[1] - pads[1] + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const i = (nc * H + ih) * W + iw;
            if (x.data[i] > best) [best, at] = [x.data[i], i];
          }
        y.data[(nc * OH + oh) * OW + ow] = best;
        idx.data[(nc * OH + oh) * OW + ow] = at;
      }
  return [y, idx];
}

export function globalAveragePool(x: RTensor): RTensor {
  const [N, C, H, W] = x.dims;
  const y = zeros([N, C, 1, 1]);
  for (let nc = 0; nc < N * C; nc++) {
    let s = 0;
    for (let i = 0; i < H * W; i++) s += x.data[nc * H * W + i];
    y.data[nc] = s / (H * W);
  }
  return y;
}

/** reduction 'mean' or 'none', no weights or ignore_index: [loss, log_prob]. */
export function softmaxCrossEntropy(scores: RTensor, labels: RTensor, reduction: 'mean' | 'none' = 'mean'): [RTensor, RTensor] {
  const [N, C] = scores.dims;
  const logp = zeros([N, C]);
  const each = zeros([N]);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, scores.data[n * C + c]);
    let z = 0;
    for (let c = 0; c < C; c++) z += Math.exp(scores.data[n * C + c] - max);
    for (let c = 0; c < C; c++) logp.data[n * C + c] = scores.data[n * C + c] - max - Math.log(z);
    each.data[n] = -logp.data[n * C + labels.data[n]];
    loss += each.data[n];
  }
  return [reduction === 'none' ? each : { dims: [], data: Float64Array.of(loss / N), type: 'float' }, logp];
}

export function oneHot(indices: RTensor, depth: number, values: RTensor): RTensor {
  const y = zeros([...indices.dims, depth], values.type);
  y.data.fill(values.data[0]);
  for (let i = 0; i < indices.data.length; i++) {
    const k = indices.data[i] < 0 ? indices.data[i] + depth : indices.data[i];
    if (k >= 0 && k < depth) y.data[i * depth + k] = values.data[1];
  }
  return y;
}

export function scatterElements(data: RTensor, indices: RTensor, updates: RTensor, axis: number, reduction: string): RTensor {
  const y: RTensor = { dims: [...data.dims], data: Float64Array.from(data.data), type: data.type };
  const ax = axis < 0 ? axis + data.dims.length : axis;
  for (let i = 0; i < indices.data.length; i++) {
    const c = coords(i, indices.dims);
    const j = indices.data[i];
    c[ax] = j < 0 ? j + data.dims[ax] : j;
    const o = flatIndex(c, data.dims);
    y.data[o] = reduction === 'add' ? y.data[o] + updates.data[i] : updates.data[i];
  }
  return y;
}
