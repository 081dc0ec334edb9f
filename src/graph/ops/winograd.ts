// 3×3 stride-1 Conv2d as Winograd F(m×m, 3×3) (Lavin & Gray, 2016) in standard ONNX ops, forward
// and backward together. An m×m output tile takes (m+2)² products instead of 9·m², so the three
// GEMMs of a training step (Y, dX, dW) each do 2.25× (m = 2) or 4× (m = 4) fewer multiplies than a
// direct convolution; the tile transforms are small dense MatMuls over (m+2)²-row blocks.
//
// Activations are laid out [H·W, N, C] inside the layer ("HWNC"): a tile tap is then one Gather
// of whole N·C-float rows, and for each of the (m+2)² transform positions the tiles of the whole
// batch form one contiguous [T·N, C] matrix, so each GEMM is one batched MatMul over the positions
// with M = T·N rows. dX and dW are the exact adjoints of the forward transforms (the same tiles,
// read backwards), not a second convolution.
import type { IRNode } from '../ir.js';
import type { GradCtx, LowerCtx } from '../op.js';
import { saved } from '../op.js';
import { appendZeros, spatial } from './shape.js';

/**
 * Bᵀ, G, Aᵀ of F(m, 3) (Lavin & Gray): y = Aᵀ[(G g) ⊙ (Bᵀ d)] is the m-output, 3-tap correlation
 * of an (m+2)-input tile. F(4, 3) does 36 products per 16 outputs (4× fewer than direct, against
 * 2.25× for F(2, 3)) with larger transforms and more fp32 round-off.
 */
const TILES = {
  2: {
    BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
    AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
  },
  4: {
    BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
    G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
    AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
  },
} as const;
type TileSize = keyof typeof TILES;

/** M ⊗ M as a [rows², cols²] row-major matrix: the 2-D transform of a tile flattened row-major. */
function kron(m: readonly (readonly number[])[]): Float32Array {
  const r = m.length, c = m[0].length, out = new Float32Array(r * r * c * c);
  for (let a = 0; a < r; a++) for (let b = 0; b < r; b++) for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) out[(a * r + b) * c * c + i * c + j] = m[a][i] * m[b][j];
  return out;
}

function transposed(m: readonly (readonly number[])[]): number[][] {
  return m[0].map((_, j) => m.map((row) => row[j]));
}

/**
 * Smallest input and output channel count from which the auto tuning uses Winograd: below it the
 * GEMMs are too thin to pay for the transforms. Measured per MNIST_CNN step (one thread, 32 rows,
 * conv3/conv4 at 14×14): 32 channels 0.82×, 48 channels 0.93×, 64 channels 1.06×, 128 channels 1.30×.
 */
export const WINOGRAD_MIN_CHANNELS = 64;

export interface WinogradShape {
  k: number;
  stride: number;
  pad: number;
  groups: number;
  ci: number;
  co: number;
}

/** The output tile size this convolution runs with in a training graph under the tuning, or 0 for the direct formulations. */
export function winogradTile(c: LowerCtx, s: WinogradShape): 0 | TileSize {
  if (c.mode !== 'train' || s.k !== 3 || s.stride !== 1 || s.groups !== 1 || s.pad > 2) return 0;
  const t = c.tuning.convWinograd;
  if (t === 'F2') return 2;
  if (t === 'F4') return 4;
  // The CPU graph is the one lowered for an NCHWc block; CUDA sessions keep cuDNN's own choice.
  // F(4, 3) measured 1.06× faster per MNIST_CNN step than F(2, 3) and 1.03–1.05× on ResNet-18,
  // although 14×14 and 7×7 maps waste a quarter of its tiles.
  return t === 'auto' && c.nchwcBlock > 0 && s.ci >= WINOGRAD_MIN_CHANNELS && s.co >= WINOGRAD_MIN_CHANNELS ? 4 : 0;
}

/** The layer's tile geometry: input H×W, output Ho×Wo, Th×Tw tiles of m×m outputs read from α×α inputs (α = m + 2). */
function geometry(c: LowerCtx, n: IRNode, m: TileSize) {
  const [, ci, h, w] = spatial(c.net, n.inputs[0], n.name);
  const [, co, ho, wo] = spatial(c.net, n.outputs[0], n.name);
  const th = Math.ceil(ho / m), tw = Math.ceil(wo / m), pad = (n.attrs as { pad: number }).pad;
  // Index constants are shared by every layer of one geometry.
  return { m, a: m + 2, ci, co, h, w, ho, wo, th, tw, T: th * tw, pad, key: `F${m}/${h}x${w}p${pad}` };
}
type Geometry = ReturnType<typeof geometry>;

/** For each (tap, tile) of the α×α input tiles: the input pixel it reads, or H·W (the zero row) in the padding. */
function inputTapIndex(c: LowerCtx, q: Geometry): string {
  return c.e.constI64(`winograd/in/${q.key}`, () => {
    const idx: number[] = [];
    for (let i = 0; i < q.a; i++) for (let j = 0; j < q.a; j++) {
      for (let a = 0; a < q.th; a++) for (let b = 0; b < q.tw; b++) {
        const y = q.m * a + i - q.pad, x = q.m * b + j - q.pad;
        idx.push(y >= 0 && y < q.h && x >= 0 && x < q.w ? y * q.w + x : q.h * q.w);
      }
    }
    return idx;
  });
}

/** For each output pixel: its row among the [m²·T] (tap, tile) rows of the output transform. */
function outputPixelIndex(c: LowerCtx, q: Geometry): string {
  return c.e.constI64(`winograd/out/${q.key}`, () => {
    const idx: number[] = [];
    for (let y = 0; y < q.ho; y++) for (let x = 0; x < q.wo; x++) idx.push(((y % q.m) * q.m + (x % q.m)) * q.T + Math.floor(y / q.m) * q.tw + Math.floor(x / q.m));
    return idx;
  });
}

/** For each (tap, tile) of the m×m output tiles: its output pixel, or Ho·Wo (the zero row) past a ragged edge. */
function outputTapIndex(c: LowerCtx, q: Geometry): string {
  return c.e.constI64(`winograd/outTaps/${q.key}`, () => {
    const idx: number[] = [];
    for (let i = 0; i < q.m; i++) for (let j = 0; j < q.m; j++) {
      for (let a = 0; a < q.th; a++) for (let b = 0; b < q.tw; b++) {
        const y = q.m * a + i, x = q.m * b + j;
        idx.push(y < q.ho && x < q.wo ? y * q.wo + x : q.ho * q.wo);
      }
    }
    return idx;
  });
}

/**
 * For each input pixel: the 4 (tap, tile) rows of the input tiles that read it (tiles overlap by
 * two rows and columns, so a pixel sits in at most 2 × 2 of them), padded with a zero row. Rows
 * are those of winogradBackward's [α, α + 1, T] tap-gradient blocks, whose last column is zero.
 */
function inputCoverIndex(c: LowerCtx, q: Geometry): string {
  return c.e.constI64(`winograd/cover/${q.key}`, () => {
    const idx: number[] = [];
    const covers = (r: number, tiles: number): Array<[number, number]> => {
      const out: Array<[number, number]> = []; // (tile, tap) along one axis
      for (let a = Math.floor(r / q.m) - 1; a <= Math.floor(r / q.m); a++) if (a >= 0 && a < tiles && r - q.m * a < q.a) out.push([a, r - q.m * a]);
      return out;
    };
    for (let y = 0; y < q.h; y++) for (let x = 0; x < q.w; x++) {
      const rows: number[] = [];
      for (const [a, i] of covers(y + q.pad, q.th)) for (const [b, j] of covers(x + q.pad, q.tw)) rows.push((i * (q.a + 1) + j) * q.T + a * q.tw + b);
      while (rows.length < 4) rows.push(q.a * q.T);
      idx.push(...rows);
    }
    return idx;
  });
}

/**
 * out[a, b] = Σ_ij M[a, i]·M[b, j]·x[i, j] for x laid out [c·c, X] (c = M's columns), as one
 * MatMul by M ⊗ M. (Two small MatMuls, rows then columns, do c/2 as many multiply-adds but were
 * 3–4 % slower per training step: one more pass over the tiles.) `zeroColumn` appends a zero b
 * after each a's r: [r·(r + 1), X].
 */
function transform2d(c: LowerCtx, key: string, m: readonly (readonly number[])[], x: string, out: string, zeroColumn = false): string {
  const r = m.length, cols = m[0].length, kk = kron(m), e = c.e;
  const rows = zeroColumn ? r * (r + 1) : r * r;
  const full = e.constTensor(`winograd/${key}${zeroColumn ? '+0' : ''}`, [rows, cols * cols], () => {
    if (!zeroColumn) return kk;
    const z = new Float32Array(rows * cols * cols);
    for (let a = 0; a < r; a++) z.set(kk.subarray(a * r * cols * cols, (a + 1) * r * cols * cols), a * (r + 1) * cols * cols);
    return z;
  });
  return e.node('MatMul', [full, e.node('Reshape', [x, e.i64([cols * cols, -1])], `${out}/in`)], out);
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
export function winogradForward(c: LowerCtx, n: IRNode, m: TileSize): void {
  const q = geometry(c, n, m), { BT, G, AT } = TILES[m], A2 = q.a * q.a, M2 = m * m;
  const e = c.e, tmp = (s: string) => saved(n, `wino/${s}`);
  const [x, w, bias] = n.inputs;
  // One zero row [1, N, Ci] after the pixels: the target of every padding tap.
  const rows = appendZeros(e, toRows(c, x, q.ci, q.h * q.w, tmp), x, { before: [1], after: [q.ci] }, 0, tmp('rowsZ'));
  const taps = e.node('Gather', [rows, inputTapIndex(c, q)], tmp('inTaps'), { axis: 0 }); // [α²·T, N, Ci]
  const v = e.node('Reshape', [transform2d(c, `F${m}/Bt`, BT, taps, tmp('vTaps')), e.i64([A2, -1, q.ci])], saved(n, 'wino/V'));
  // U = (G ⊗ G)·w as [α², Co, Ci]: one Gemm over the filter read as [Co·Ci, 9].
  const w2 = e.node('Reshape', [w, e.i64([q.co * q.ci, 9])], tmp('w2'));
  const u2 = e.node('Gemm', [e.constTensor(`winograd/F${m}/GG`, [A2, 9], () => kron(G)), w2], tmp('u2'), { transB: 1 });
  const u = e.node('Reshape', [u2, e.i64([A2, q.co, q.ci])], saved(n, 'wino/U'));
  const mm = e.node('MatMul', [v, e.node('Transpose', [u], tmp('uT'), { perm: [0, 2, 1] })], tmp('M')); // [α², T·N, Co]
  const yt = transform2d(c, `F${m}/At`, AT, mm, tmp('yTaps')); // [m², T·N·Co]
  // The bias goes on before the Gather so that the Gather's 2-D output feeds the transpose directly.
  const biased = bias ? e.node('Add', [e.node('Reshape', [yt, e.i64([-1, q.co])], tmp('yTapRows')), bias], tmp('yBias')) : yt;
  const yTiles = e.node('Reshape', [biased, e.i64([M2 * q.T, -1])], tmp('yTiles')); // [m²·T, N·Co]
  const yRows = e.node('Gather', [yTiles, outputPixelIndex(c, q)], tmp('yRows'), { axis: 0 }); // [Ho·Wo, N·Co]
  fromRows(c, yRows, [q.co, q.ho, q.wo], n.outputs[0], tmp);
}

/** Backward: dM = (Aᵀ⊗Aᵀ)ᵀ dY tiles; dW = (G⊗G)ᵀ Σ dMᵀV; dX = the tiles of (Bᵀ⊗Bᵀ)ᵀ dM U summed back onto their pixels. */
export function winogradBackward(g: GradCtx, n: IRNode, dy: string, m: TileSize): void {
  const q = geometry(g, n, m), { BT, G, AT } = TILES[m], A2 = q.a * q.a, M2 = m * m;
  const e = g.e, tmp = (s: string) => g.tmp(`wino/${s}`);
  const dyRows = toRows(g, dy, q.co, q.ho * q.wo, tmp); // [Ho·Wo, N, Co]
  if (g.needs(2)) e.reduceSum(dyRows, [0, 1], g.GI(2), false);
  if (!g.needs(0) && !g.needs(1)) return;
  // Only output sizes that the tiles overshoot have tile taps that need the zero row.
  const ragged = q.ho % m !== 0 || q.wo % m !== 0;
  const dySource = ragged ? appendZeros(e, dyRows, dy, { before: [1], after: [q.co] }, 0, tmp('dy/rowsZ')) : dyRows;
  const dyTaps = e.node('Gather', [dySource, outputTapIndex(g, q)], tmp('dyTaps'), { axis: 0 }); // [m²·T, N, Co]
  const dm = e.node('Reshape', [transform2d(g, `F${m}/A`, transposed(AT), dyTaps, tmp('dM2')), e.i64([A2, -1, q.co])], tmp('dM')); // [α², T·N, Co]
  if (g.needs(1)) {
    const du = e.node('MatMul', [e.node('Transpose', [dm], tmp('dMT'), { perm: [0, 2, 1] }), saved(n, 'wino/V')], tmp('dU')); // [α², Co, Ci]
    const du2 = e.node('Reshape', [du, e.i64([A2, -1])], tmp('dU2'));
    const dw2 = e.node('Gemm', [du2, e.constTensor(`winograd/F${m}/GG`, [A2, 9], () => kron(G))], tmp('dW2'), { transA: 1 });
    e.node('Reshape', [dw2, e.i64([q.co, q.ci, 3, 3])], g.GI(1));
  }
  if (g.needs(0)) {
    const dv = e.node('MatMul', [dm, saved(n, 'wino/U')], tmp('dV')); // [α², T·N, Ci]
    // The transform's extra zero column gives the cover index its zero rows, for 1/α more output
    // instead of a copy of the whole result.
    const dd2 = transform2d(g, `F${m}/B`, transposed(BT), dv, tmp('dD2'), true);
    const dd = e.node('Reshape', [dd2, e.i64([q.a * (q.a + 1) * q.T, -1])], tmp('dD')); // [α·(α+1)·T, N·Ci]
    const parts = e.node('Gather', [dd, inputCoverIndex(g, q)], tmp('dxParts'), { axis: 0 });
    const parts4 = e.node('Reshape', [parts, e.i64([q.h * q.w, 4, -1])], tmp('dxParts4'));
    fromRows(g, e.reduceSum(parts4, [1], tmp('dxSum'), false), [q.ci, q.h, q.w], g.GI(0), tmp);
  }
}
