// Independent JS reference for the average engine's tests: decode/encode of F32/F16/BF16/F64 with
// round-to-nearest-even done by exact double arithmetic (no bit tricks shared with the C++ code),
// and a seeded PRNG so every test sees the same data.

export type DType = 'F32' | 'F16' | 'BF16' | 'F64';
export type OutDType = 'F32' | 'F16' | 'BF16';
export const ES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** mulberry32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Round-half-even of a non-negative double to an integer. */
function rne(q: number): number {
  const f = Math.floor(q);
  const d = q - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** floor(log2(a)) for a > 0, exact. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  return e;
}

/**
 * Rounds v to a binary format with `mant` stored mantissa bits, minimum normal exponent `emin`
 * and overflow threshold `max` (largest finite); returns the rounded value (±Infinity on overflow).
 */
function roundTo(v: number, mant: number, emin: number, max: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  const e = Math.max(exponentOf(a), emin);
  const ulp = 2 ** (e - mant);
  const r = rne(a / ulp) * ulp;
  return Math.sign(v) * (r > max ? Infinity : r);
}

export const F16_MAX = 65504;
export const BF16_MAX = (2 - 2 ** -7) * 2 ** 127;

export function roundF16(v: number): number {
  return roundTo(v, 10, -14, F16_MAX);
}
export function roundBF16(v: number): number {
  return roundTo(v, 7, -126, BF16_MAX);
}

export function f16BitsToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Bits of an f16-representable value (or ±inf/NaN). */
export function numberToF16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  if (a === 0) return sign;
  if (a < 2 ** -14) return sign | (a / 2 ** -24);
  const e = exponentOf(a);
  return sign | ((e + 15) << 10) | ((a / 2 ** e - 1) * 1024);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function bf16BitsToNumber(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}
/** Bits of a bf16-representable value (the top half of its f32 bits). */
export function numberToBF16Bits(v: number): number {
  f32[0] = v;
  return u32[0] >>> 16;
}

/** Exact values of a buffer of dtype (F64 as stored). */
export function decode(bytes: Uint8Array, dtype: DType): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / ES[dtype];
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    if (dtype === 'F32') out[j] = view.getFloat32(4 * j, true);
    else if (dtype === 'F64') out[j] = view.getFloat64(8 * j, true);
    else if (dtype === 'F16') out[j] = f16BitsToNumber(view.getUint16(2 * j, true));
    else out[j] = bf16BitsToNumber(view.getUint16(2 * j, true));
  }
  return out;
}

/** Encodes values as dtype, rounding to nearest even. */
export function encode(values: ArrayLike<number>, dtype: DType): Uint8Array {
  const bytes = new Uint8Array(values.length * ES[dtype]);
  const view = new DataView(bytes.buffer);
  for (let j = 0; j < values.length; j++) {
    const v = values[j];
    if (dtype === 'F32') view.setFloat32(4 * j, v, true);
    else if (dtype === 'F64') view.setFloat64(8 * j, v, true);
    else if (dtype === 'F16') view.setUint16(2 * j, numberToF16Bits(roundF16(Math.fround(v))), true);
    else view.setUint16(2 * j, numberToBF16Bits(roundBF16(Math.fround(v))), true);
  }
  return bytes;
}

/** Random finite values: mostly O(1), some tiny, some exact zeros, both signs. */
export function randomValues(n: number, next: () => number): Float64Array {
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const u = next();
    const mag = u < 0.02 ? 0 : u < 0.1 ? 2 ** (-20 - 10 * next()) : 4 * next();
    out[j] = (next() < 0.5 ? -1 : 1) * mag;
  }
  return out;
}

/** Random bit patterns of a 16-bit dtype whose exponent field is not all ones (finite). */
export function randomFiniteBits16(n: number, dtype: 'F16' | 'BF16', next: () => number): Uint8Array {
  const out = new Uint16Array(n);
  const expMask = dtype === 'F16' ? 0x7c00 : 0x7f80;
  for (let j = 0; j < n; j++) {
    let h: number;
    do h = Math.floor(next() * 65536);
    while ((h & expMask) === expMask);
    out[j] = h;
  }
  return new Uint8Array(out.buffer);
}

/** Rounds a value to the output dtype (the last step of the engine). */
export function roundOut(v: number, dtype: OutDType): number {
  if (dtype === 'F32') return Math.fround(v);
  return dtype === 'F16' ? roundF16(v) : roundBF16(v);
}

/** Spacing of the output dtype at magnitude a (subnormal spacing below the normal range). */
export function ulpOut(a: number, dtype: OutDType): number {
  const [mant, emin] = dtype === 'F32' ? [23, -126] : dtype === 'F16' ? [10, -14] : [7, -126];
  return 2 ** (Math.max(a > 0 ? exponentOf(a) : emin, emin) - mant);
}
