// Float64 reference kernels for ONNX's normalisation ops: LayerNormalization (opset 17, with its
// Mean and InvStdDev outputs) and BatchNormalization in inference mode. Plain loops.
import type { RTensor } from './tensor.js';
import { broadcastMap, size, zeros } from './tensor.js';

/** Normalises over the dims from `axis` on; scale/bias broadcast over those dims. */
export function layerNormalization(x: RTensor, scale: RTensor, bias: RTensor | undefined, axisIn: number, eps: number): RTensor[] {
  const axis = axisIn < 0 ? axisIn + x.dims.length : axisIn;
  const inner = size(x.dims.slice(axis)), outer = size(x.dims.slice(0, axis));
  const statDims = x.dims.map((d, i) => (i < axis ? d : 1));
  const mean = zeros(statDims), inv = zeros(statDims), xhat = zeros(x.dims);
  for (let o = 0; o < outer; o++) {
    let m = 0;
    for (let i = 0; i < inner; i++) m += x.data[o * inner + i];
    m /= inner;
    let v = 0;
    for (let i = 0; i < inner; i++) v += (x.data[o * inner + i] - m) ** 2;
    const r = 1 / Math.sqrt(v / inner + eps);
    mean.data[o] = m;
    inv.data[o] = r;
    for (let i = 0; i < inner; i++) xhat.data[o * inner + i] = (x.data[o * inner + i] - m) * r;
  }
  const scaled = broadcastMap([xhat, scale], 'float', (a, s) => a * s);
  return [bias ? broadcastMap([scaled, bias], 'float', (a, b) => a + b) : scaled, mean, inv];
}

/** y = (x − mean)/√(var + eps)·scale + bias per channel (axis 1). */
export function batchNormalization(x: RTensor, scale: RTensor, bias: RTensor, mean: RTensor, variance: RTensor, eps: number): RTensor {
  const C = x.dims[1], inner = size(x.dims.slice(2));
  const y = zeros(x.dims);
  for (let i = 0; i < x.data.length; i++) {
    const c = Math.floor(i / inner) % C;
    y.data[i] = ((x.data[i] - mean.data[c]) / Math.sqrt(variance.data[c] + eps)) * scale.data[c] + bias.data[c];
  }
  return y;
}
