// Float64 tensors for the reference ONNX interpreter, with numpy broadcasting and index helpers.
// Every element type is held as float64 (int64 values stay exact below 2^53); `type` records the
// ONNX type so Cast/Where/OneHot behave as specified.

export type RType = 'float' | 'int64' | 'bool';

export interface RTensor {
  dims: number[];
  data: Float64Array;
  type: RType;
}

export function size(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function tensor(dims: number[], data: ArrayLike<number>, type: RType = 'float'): RTensor {
  if (data.length !== size(dims)) throw new Error(`tensor: ${data.length} values for [${dims}]`);
  return { dims: [...dims], data: Float64Array.from(data), type };
}

export function zeros(dims: number[], type: RType = 'float'): RTensor {
  return { dims: [...dims], data: new Float64Array(size(dims)), type };
}

export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

export function broadcastDims(...shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v !== 1) {
        if (d !== 1 && d !== v) throw new Error(`broadcast: [${shapes.map((x) => x.join(',')).join('] vs [')}]`);
        d = v;
      }
    }
    out.push(d);
  }
  return out;
}

/** Strides for reading `dims` as if broadcast to `to` (0 on broadcast axes). */
function broadcastStrides(dims: number[], to: number[]): number[] {
  const s = stridesOf(dims);
  return to.map((_, i) => {
    const j = i - (to.length - dims.length);
    return j < 0 || dims[j] === 1 ? 0 : s[j];
  });
}

/** out[i] = f(a[i'], b[i'], ...) over the broadcast shape. */
export function broadcastMap(inputs: RTensor[], type: RType, f: (...v: number[]) => number): RTensor {
  const dims = broadcastDims(...inputs.map((t) => t.dims));
  const strides = inputs.map((t) => broadcastStrides(t.dims, dims));
  const out = zeros(dims, type);
  const idx = new Array<number>(dims.length).fill(0);
  const vals = new Array<number>(inputs.length);
  for (let i = 0; i < out.data.length; i++) {
    for (let k = 0; k < inputs.length; k++) {
      let off = 0;
      for (let d = 0; d < dims.length; d++) off += idx[d] * strides[k][d];
      vals[k] = inputs[k].data[off];
    }
    out.data[i] = f(...vals);
    for (let d = dims.length - 1; d >= 0; d--) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Coordinates of flat index i in `dims`. */
export function coords(i: number, dims: readonly number[]): number[] {
  const c = new Array<number>(dims.length);
  for (let d = dims.length - 1; d >= 0; d--) {
    c[d] = i % dims[d];
    i = Math.floor(i / dims[d]);
  }
  return c;
}

export function flatIndex(c: readonly number[], dims: readonly number[]): number {
  let off = 0;
  for (let d = 0; d < dims.length; d++) off = off * dims[d] + c[d];
  return off;
}
