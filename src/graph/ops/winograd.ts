// 3×3 stride-1 Conv2d as Winograd F(2×2, 3×3) (Lavin & Gray, 2016) in standard ONNX ops, forward
// and backward together. Each 2×2 output tile takes 16 products instead of 36, so the three GEMMs
// of a training step (Y, dX, dW) each do 2.25× fewer multiplies than a direct convolution; the
// tile transforms are small dense MatMuls over 16-row blocks.
//
// Activations are laid out [H·W, N, C] inside the layer ("HWNC"): a tile tap is then one Gather
// of whole N·C-float rows, and for each of the 16 transform positions the tiles of the whole batch
// form one contiguous [T·N, C] matrix, so each GEMM is one batched MatMul over the 16 positions
// with M = T·N (thousands of rows) whatever the batch size. dX and dW are the exact adjoints of
// the forward transforms (the same tiles, read backwards), not a second convolution.
import type { IRNode } from '../ir.js';
import type { GradCtx, LowerCtx } from '../op.js';
import { saved } from '../op.js';
import { spatial } from './shape.js';

// Bᵀ, G, Aᵀ of F(2, 3): y = Aᵀ[(G g) ⊙ (Bᵀ d)] is the 2-output, 3-tap correlation of a 4-input tile.
const BT = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]];
const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];
const AT = [[1, 1, 1, 0], [0, 1, -1, -1]];

/** M ⊗ M as a [rows², cols²] row-major matrix: the 2-D transform of a tile flattened row-major. */
function kron(m: number[][]): Float32Array {
  const r = m.length, c = m[0].length, out = new Float32Array(r * r * c * c);
  for (let a = 0; a < r; a++) for (let b = 0; b < r; b++) for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) out[(a * r + b) * c * c + i * c + j] = m[a][i] * m[b][j];
  return out;
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
  return t;
}

/** Smallest input / output channel counts from which the auto tuning uses Winograd (below, the GEMMs are too thin to pay for the transforms). */
export const WINOGRAD_MIN_CHANNELS = 32;

export interface WinogradShape {
  k: number;
  stride: number;
  pad: number;
  groups: number;
  ci: number;
  co: number;
}

/** Whether this convolution runs as Winograd in a training graph under the tuning. */
export function useWinograd(c: LowerCtx, s: WinogradShape): boolean {
  if (c.mode !== 'train' || s.k !== 3 || s.stride !== 1 || s.groups !== 1 || s.pad > 2) return false;
  const t = c.tuning.convWinograd;
  // The CPU graph is the one lowered for an NCHWc block; CUDA sessions keep cuDNN's own choice.
  return t === 'on' || (t === 'auto' && c.nchwcBlock > 0 && s.ci >= WINOGRAD_MIN_CHANNELS && s.co >= WINOGRAD_MIN_CHANNELS);
}

/** The layer's tile geometry: input H×W, output Ho×Wo, Th×Tw tiles of 2×2 outputs. */
function geometry(c: LowerCtx, n: IRNode) {
  const [, ci, h, w] = spatial(c.net, n.inputs[0], n.name);
  const [, co, ho, wo] = spatial(c.net, n.outputs[0], n.name);
  const th = Math.ceil(ho / 2), tw = Math.ceil(wo / 2);
  return { ci, co, h, w, ho, wo, th, tw, T: th * tw, pad: (n.attrs as { pad: number }).pad };
}
type Geometry = ReturnType<typeof geometry>;

/** For each (tap, tile) of the 4×4 input tiles: the input pixel it reads, or H·W (the zero row) in the padding. */
function inputTapIndex(c: LowerCtx, q: Geometry): string {
  return c.e.constI64(`winograd/in/${q.h}x${q.w}p${q.pad}`, () => {
    const idx: number[] = [];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
      for (let a = 0; a < q.th; a++) for (let b = 0; b < q.tw; b++) {
        const y = 2 * a + i - q.pad, x = 2 * b + j - q.pad;
        idx.push(y >= 0 && y < q.h && x >= 0 && x < q.w ? y * q.w + x : q.h * q.w);
      }
    }
    return idx;
  });
}

/** For each output pixel: its row among the [4·T] (tap, tile) rows of the output transform. */
function outputPixelIndex(c: LowerCtx, q: Geometry): string {
  return c.e.constI64(`winograd/out/${q.ho}x${q.wo}`, () => {
    const idx: number[] = [];
    for (let y = 0; y < q.ho; y++) for (let x = 0; x < q.wo; x++) idx.push(((y & 1) * 2 + (x & 1)) * q.T + (y >> 1) * q.tw + (x >> 1));
    return idx;
  });
}

/** For each (tap, tile) of the 2×2 output tiles: its output pixel, or Ho·Wo (the zero row) past an odd edge. */
function outputTapIndex(c: LowerCtx, q: Geometry): string {
  return c.e.constI64(`winograd/outTaps/${q.ho}x${q.wo}`, () => {
    const idx: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
      for (let a = 0; a < q.th; a++) for (let b = 0; b < q.tw; b++) {
        const y = 2 * a + i, x = 2 * b + j;
        idx.push(y < q.ho && x < q.wo ? y * q.wo + x : q.ho * q.wo);
      }
    }
    return idx;
  });
}

/**
 * For each input pixel: the 4 (tap, tile) rows of the input tiles that read it (tiles overlap by
 * two rows and columns, so a pixel sits in at most 2 × 2 of them), padded with 16·T (the first of
 * the zero rows winogradBackward appends).
 */
function inputCoverIndex(c: LowerCtx, q: Geometry): string {
  return c.e.constI64(`winograd/cover/${q.h}x${q.w}p${q.pad}`, () => {
    const idx: number[] = [];
    const covers = (r: number, tiles: number): Array<[number, number]> => {
      const out: Array<[number, number]> = []; // (tile, tap) along one axis
      for (let a = Math.floor(r / 2) - 1; a <= Math.floor(r / 2); a++) if (a >= 0 && a < tiles) out.push([a, r - 2 * a]);
      return out;
    };
    for (let y = 0; y < q.h; y++) for (let x = 0; x < q.w; x++) {
      const rows: number[] = [];
      for (const [a, i] of covers(y + q.pad, q.th)) for (const [b, j] of covers(x + q.pad, q.tw)) rows.push((i * 4 + j) * q.T + a * q.tw + b);
      while (rows.length < 4) rows.push(16 * q.T);
      idx.push(...rows);
    }
    return idx;
  });
}

/** v as [rows, N, C] with one zero row appended (the target of every padding index). */
function withZeroRow(c: LowerCtx, v: string, channels: number, tmp: (s: string) => string, batchOf: string): string {
  const shape = c.e.node('Concat', [c.e.i64([1]), c.e.node('Shape', [batchOf], tmp('batch'), { end: 1 }), c.e.i64([channels])], tmp('zeroRowShape'), { axis: 0 });
  return c.e.node('Concat', [v, c.e.node('ConstantOfShape', [shape], tmp('zeroRow'))], tmp('rowsZ'), { axis: 0 });
}

/** NCHW [N, C, H, W] → HWNC rows [H·W, N, C]. */
function toRows(c: LowerCtx, x: string, channels: number, pixels: number, tmp: (s: string) => string): string {
  const x3 = c.e.node('Reshape', [x, c.e.i64([0, channels, pixels])], tmp('x3'));
  return c.e.node('Transpose', [x3], tmp('rows'), { perm: [2, 0, 1] });
}

/**
 * HWNC rows as a 2-D [H·W, N·C] value → NCHW by one 2-D transpose (MLAS's fast path). With a
 * static batch, ORT's transpose optimizer moves the Reshape ahead of it and runs the resulting
 * 4-D permutation element by element (~2.8 ms instead of ~0.6 ms for 128 channels of 14×14 and a
 * batch of 32); the trainer's graphs have a symbolic batch and keep the fast form.
 */
function fromRows(c: LowerCtx, rows2: string, dims: number[], out: string, tmp: (s: string) => string): string {
  const t = c.e.node('Transpose', [rows2], tmp('nchw2'), { perm: [1, 0] });
  return c.e.node('Reshape', [t, c.e.i64([-1, ...dims])], out);
}

/** Forward: y = conv(x, w) + b through the transforms; leaves V (input tiles) and U (filter) for the backward. */
export function winogradForward(c: LowerCtx, n: IRNode): void {
  const q = geometry(c, n);
  const e = c.e, tmp = (s: string) => saved(n, `wino/${s}`);
  const [x, w, bias] = n.inputs;
  const rows = withZeroRow(c, toRows(c, x, q.ci, q.h * q.w, tmp), q.ci, tmp, x);
  const taps = e.node('Gather', [rows, inputTapIndex(c, q)], tmp('inTaps'), { axis: 0 }); // [16·T, N, Ci]
  const d = e.node('Reshape', [taps, e.i64([16, -1])], tmp('d'));
  const v = e.node('Reshape', [e.node('MatMul', [e.constTensor('winograd/BtB', [16, 16], () => kron(BT)), d], tmp('v2')), e.i64([16, -1, q.ci])], saved(n, 'wino/V'));
  // U = (G ⊗ G)·w as [16, Co, Ci]: one Gemm over the filter read as [Co·Ci, 9].
  const w2 = e.node('Reshape', [w, e.i64([q.co * q.ci, 9])], tmp('w2'));
  const u2 = e.node('Gemm', [e.constTensor('winograd/GG', [16, 9], () => kron(G)), w2], tmp('u2'), { transB: 1 });
  const u = e.node('Reshape', [u2, e.i64([16, q.co, q.ci])], saved(n, 'wino/U'));
  const m = e.node('MatMul', [v, e.node('Transpose', [u], tmp('uT'), { perm: [0, 2, 1] })], tmp('M')); // [16, T·N, Co]
  const m2 = e.node('Reshape', [m, e.i64([16, -1])], tmp('M2'));
  const y4 = e.node('MatMul', [e.constTensor('winograd/AtA', [4, 16], () => kron(AT)), m2], tmp('y4'));
  // The bias goes on before the Gather so that the Gather's 2-D output feeds the transpose directly.
  const biased = bias ? e.node('Add', [e.node('Reshape', [y4, e.i64([-1, q.co])], tmp('y4Rows')), bias], tmp('yBias')) : y4;
  const yTiles = e.node('Reshape', [biased, e.i64([4 * q.T, -1])], tmp('yTiles')); // [4·T, N·Co]
  const yRows = e.node('Gather', [yTiles, outputPixelIndex(c, q)], tmp('yRows'), { axis: 0 }); // [Ho·Wo, N·Co]
  fromRows(c, yRows, [q.co, q.ho, q.wo], n.outputs[0], tmp);
}

/** Backward: dM = (Aᵀ⊗Aᵀ)ᵀ dY tiles; dW = (G⊗G)ᵀ Σ dMᵀV; dX = the tiles of (Bᵀ⊗Bᵀ)ᵀ dM U summed back onto their pixels. */
export function winogradBackward(g: GradCtx, n: IRNode, dy: string): void {
  const q = geometry(g, n);
  const e = g.e, tmp = (s: string) => g.tmp(`wino/${s}`);
  const dyRows = toRows(g, dy, q.co, q.ho * q.wo, tmp); // [Ho·Wo, N, Co]
  if (g.needs(2)) e.reduceSum(dyRows, [0, 1], g.GI(2), false);
  if (!g.needs(0) && !g.needs(1)) return;
  // Only odd output sizes have tile taps past the edge that need the zero row.
  const odd = q.ho % 2 === 1 || q.wo % 2 === 1;
  const dySource = odd ? withZeroRow(g, dyRows, q.co, (s) => tmp(`dy/${s}`), dy) : dyRows;
  const dyTaps = e.node('Gather', [dySource, outputTapIndex(g, q)], tmp('dyTaps'), { axis: 0 }); // [4·T, N, Co]
  const dy2 = e.node('Reshape', [dyTaps, e.i64([4, -1])], tmp('dy2'));
  const atA = e.constTensor('winograd/AtAT', [16, 4], () => transpose(kron(AT), 4, 16));
  const dm = e.node('Reshape', [e.node('MatMul', [atA, dy2], tmp('dM2')), e.i64([16, -1, q.co])], tmp('dM')); // [16, T·N, Co]
  if (g.needs(1)) {
    const du = e.node('MatMul', [e.node('Transpose', [dm], tmp('dMT'), { perm: [0, 2, 1] }), saved(n, 'wino/V')], tmp('dU')); // [16, Co, Ci]
    const du2 = e.node('Reshape', [du, e.i64([16, -1])], tmp('dU2'));
    const dw2 = e.node('Gemm', [du2, e.constTensor('winograd/GG', [16, 9], () => kron(G))], tmp('dW2'), { transA: 1 });
    e.node('Reshape', [dw2, e.i64([q.co, q.ci, 3, 3])], g.GI(1));
  }
  if (g.needs(0)) {
    const dv = e.node('Reshape', [e.node('MatMul', [dm, saved(n, 'wino/U')], tmp('dV')), e.i64([16, -1])], tmp('dV2')); // [16, T·N·Ci]
    // (Bᵀ⊗Bᵀ)ᵀ with a 17th, zero row: its output block 16 is the zero rows the cover index pads
    // with, which costs the MatMul 1/16 more output instead of a copy of the whole result.
    const btB = e.constTensor('winograd/BtBT+0', [17, 16], () => {
      const m = new Float32Array(17 * 16);
      m.set(transpose(kron(BT), 16, 16));
      return m;
    });
    const dd = e.node('Reshape', [e.node('MatMul', [btB, dv], tmp('dD2')), e.i64([17 * q.T, -1])], tmp('dD')); // [17·T, N·Ci]
    const parts = e.node('Gather', [dd, inputCoverIndex(g, q)], tmp('dxParts'), { axis: 0 });
    const parts4 = e.node('Reshape', [parts, e.i64([q.h * q.w, 4, -1])], tmp('dxParts4'));
    fromRows(g, e.reduceSum(parts4, [1], tmp('dxSum'), false), [q.ci, q.h, q.w], g.GI(0), tmp);
  }
}
