// Float64 reference kernels for the data-movement ops the graph compiler emits besides
// Reshape/Transpose/Slice: Pad (constant), Gather, Concat, Split, Tile. Plain loops, no shortcuts.
import type { RTensor } from './tensor.js';
import { coords, flatIndex, size, zeros } from './tensor.js';

const axisOf = (a: number, rank: number) => (a < 0 ? a + rank : a);

/** Constant-mode Pad with ONNX's [begin..., end...] pads (negative pads crop). */
export function pad(x: RTensor, pads: number[], value = 0): RTensor {
  const r = x.dims.length;
  const dims = x.dims.map((d, i) => d + pads[i] + pads[i + r]);
  const y = zeros(dims, x.type);
  y.data.fill(value);
  for (let i = 0; i < x.data.length; i++) {
    const c = coords(i, x.dims).map((v, d) => v + pads[d]);
    if (c.every((v, d) => v >= 0 && v < dims[d])) y.data[flatIndex(c, dims)] = x.data[i];
  }
  return y;
}

export function gather(x: RTensor, indices: RTensor, axisIn: number): RTensor {
  const axis = axisOf(axisIn, x.dims.length);
  const dims = [...x.dims.slice(0, axis), ...indices.dims, ...x.dims.slice(axis + 1)];
  const y = zeros(dims, x.type);
  const k = indices.dims.length;
  for (let i = 0; i < y.data.length; i++) {
    const c = coords(i, dims);
    const j = flatIndex(c.slice(axis, axis + k), indices.dims);
    let at = indices.data[j];
    if (at < 0) at += x.dims[axis];
    if (!(at >= 0 && at < x.dims[axis])) throw new Error(`Gather: index ${indices.data[j]} out of range for axis of ${x.dims[axis]}`);
    y.data[i] = x.data[flatIndex([...c.slice(0, axis), at, ...c.slice(axis + k)], x.dims)];
  }
  return y;
}

export function concat(xs: RTensor[], axisIn: number): RTensor {
  const axis = axisOf(axisIn, xs[0].dims.length);
  const dims = [...xs[0].dims];
  dims[axis] = xs.reduce((a, t) => a + t.dims[axis], 0);
  const y = zeros(dims, xs[0].type);
  let offset = 0;
  for (const t of xs) {
    for (let i = 0; i < t.data.length; i++) {
      const c = coords(i, t.dims);
      c[axis] += offset;
      y.data[flatIndex(c, dims)] = t.data[i];
    }
    offset += t.dims[axis];
  }
  return y;
}

export function split(x: RTensor, axisIn: number, sizes: number[]): RTensor[] {
  const axis = axisOf(axisIn, x.dims.length);
  let offset = 0;
  return sizes.map((s) => {
    const dims = [...x.dims];
    dims[axis] = s;
    const y = zeros(dims, x.type);
    for (let i = 0; i < y.data.length; i++) {
      const c = coords(i, dims);
      c[axis] += offset;
      y.data[i] = x.data[flatIndex(c, x.dims)];
    }
    offset += s;
    return y;
  });
}

export function tile(x: RTensor, repeats: number[]): RTensor {
  const dims = x.dims.map((d, i) => d * repeats[i]);
  const y = zeros(dims, x.type);
  for (let i = 0; i < size(dims); i++) y.data[i] = x.data[flatIndex(coords(i, dims).map((v, d) => v % x.dims[d]), x.dims)];
  return y;
}
