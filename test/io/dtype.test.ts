// fp32 <-> f16/bf16 conversion against independent double-precision oracles, exhaustively where the
// domain is 16 bits, and on random plus edge fp32 inputs for rounding.
import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32, decodeToF32, encodeFromF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, tensorByteLength,
} from '../../src/io/dtype.js';
import { rng } from './helpers.js';

/** The value of f16 bits, straight from the IEEE definition, in double precision. */
function f16Oracle(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (m / 1024);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (b: number) => ((u32[0] = b), f32[0]);

/** Nearest of two candidates; ties to the one with an even last bit. */
function nearestEven(x: number, lo: { v: number; bits: number }, hi: { v: number; bits: number }): number {
  const dl = Math.abs(x - lo.v);
  const dh = Math.abs(hi.v - x);
  if (dl < dh) return lo.bits;
  if (dh < dl) return hi.bits;
  return (lo.bits & 1) === 0 ? lo.bits : hi.bits;
}

const positiveF16 = Array.from({ length: 0x7c00 }, (_, h) => f16Oracle(h)); // 0 .. max finite, ascending

function f16RoundOracle(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // halfway between max finite (65504) and 2^16 rounds up
  let lo = 0;
  let hi = positiveF16.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (positiveF16[mid] <= a) lo = mid;
    else hi = mid;
  }
  if (positiveF16[hi] <= a) lo = hi;
  if (positiveF16[lo] === a || lo === positiveF16.length - 1) return sign | lo;
  return sign | nearestEven(a, { v: positiveF16[lo], bits: lo }, { v: positiveF16[lo + 1], bits: lo + 1 });
}

function bf16RoundOracle(bits: number): number {
  const x = fromBits(bits);
  const sign = bits & 0x80000000 ? 0x8000 : 0;
  const absBits = bits & 0x7fffffff;
  const lo = absBits >>> 16;
  const loV = fromBits(lo << 16);
  if (loV === Math.abs(x)) return sign | lo;
  const hiV = lo + 1 === 0x7f80 ? Infinity : fromBits((lo + 1) << 16);
  return sign | nearestEven(Math.abs(x), { v: loV, bits: lo }, { v: hiV, bits: lo + 1 });
}

describe('f16', () => {
  it('decodes every bit pattern to its IEEE value', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const want = f16Oracle(h);
      const got = f16BitsToF32(h);
      if (Number.isNaN(want) ? !Number.isNaN(got) : !Object.is(got, want)) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('encodes every f16 value back to its own bits (NaNs become quiet NaNs)', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const want = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) ? h | 0x200 : h;
      if (f32ToF16Bits(f16BitsToF32(h)) !== want) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('rounds fp32 to nearest even, including ties, subnormals and overflow', () => {
    const edges = [65504, 65519.99, 65520, 1e-8, 2 ** -25, 2 ** -25 * 1.0001, 2 ** -24 * 1.5, 2 ** -24 * 2.5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 6.1e-5, -0, 3.4e38];
    const r = rng(1);
    const inputs = [...edges.map((v) => Math.fround(v)), ...Array.from({ length: 20000 }, () => fromBits((r() * 2 ** 32) >>> 0))];
    const bad = inputs.filter((v) => !Number.isNaN(v) && f32ToF16Bits(v) !== f16RoundOracle(v));
    expect(bad).toEqual([]);
  });
});

const dv = new DataView(new ArrayBuffer(4));

describe('bf16', () => {
  it('decodes and re-encodes every bit pattern', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = bf16BitsToF32(h);
      dv.setUint32(0, h * 0x10000);
      const want = dv.getFloat32(0);
      if (Number.isNaN(want) ? !Number.isNaN(v) : !Object.is(v, want)) bad.push(h);
      const back = f32ToBf16Bits(v);
      if (back !== ((h & 0x7f80) === 0x7f80 && (h & 0x7f) ? h | 0x40 : h)) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('rounds fp32 to nearest even', () => {
    const r = rng(2);
    const bad: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const bits = (r() * 2 ** 32) >>> 0;
      if ((bits & 0x7fffffff) <= 0x7f800000 && f32ToBf16Bits(fromBits(bits)) !== bf16RoundOracle(bits)) bad.push(bits);
    }
    expect(bad).toEqual([]);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie, even stays
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, odd rounds up
  });
});

describe('bulk conversion', () => {
  it('round trips through every float dtype from unaligned bytes', () => {
    const values = Float32Array.from([0, -1.5, 3.25, 1e-3, 65504, -(2 ** -20)]);
    for (const dtype of ['F32', 'F16', 'BF16', 'F64'] as const) {
      const bytes = encodeFromF32(values, dtype);
      const unaligned = new Uint8Array(bytes.byteLength + 1).subarray(1);
      unaligned.set(bytes);
      const back = decodeToF32(unaligned, dtype);
      const want = values.map((v) => (dtype === 'F16' ? f16BitsToF32(f32ToF16Bits(v)) : dtype === 'BF16' ? bf16BitsToF32(f32ToBf16Bits(v)) : v));
      expect(Array.from(back)).toEqual(Array.from(want));
    }
  });

  it('sizes tensors with checked arithmetic', () => {
    expect(tensorByteLength('F32', [2, 3])).toEqual({ numel: 6, byteLength: 24 });
    expect(tensorByteLength('F16', [])).toEqual({ numel: 1, byteLength: 2 });
    expect(tensorByteLength('F32', [2 ** 30, 2 ** 30])).toMatch(/overflows/);
    expect(tensorByteLength('F4', [3])).toMatch(/whole number of bytes/);
    expect(tensorByteLength('F4', [4])).toEqual({ numel: 4, byteLength: 2 });
  });
});
