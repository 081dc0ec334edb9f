// The raw weight-average kernels (averageKernel): every CPU level against the scalar reference
// (bit for bit), against a float64 computation (within the fp32 accumulation bound), and the dtype
// conversions against independent JS rounding, including subnormals, ±0, overflow, inf and NaN.
import { describe, expect, it } from 'vitest';
import { native, type AverageDType, type AverageOutDType } from '../../bindings/native.js';
import {
  ES,
  decode,
  f16BitsToNumber,
  bf16BitsToNumber,
  numberToBF16Bits,
  numberToF16Bits,
  randomFiniteBits16,
  randomValues,
  rng,
  roundBF16,
  roundF16,
  roundOut,
  ulpOut,
} from './dtypes.js';

const nat = native();
const LEVELS = (['scalar', 'avx2', 'avx512'] as const).slice(
  0,
  ['scalar', 'avx2', 'avx512'].indexOf(nat.info().cpuLevelSupported) + 1,
);
const OUTS: AverageOutDType[] = ['F32', 'F16', 'BF16'];
const SIZES = [0, 1, 7, 33, 100003];

function randomInput(n: number, dtype: AverageDType, next: () => number): Uint8Array {
  if (dtype === 'F16' || dtype === 'BF16') return randomFiniteBits16(n, dtype, next);
  const v = randomValues(n, next);
  if (dtype === 'F64') return new Uint8Array(Float64Array.from(v, (x) => x * (1 + next() * 1e-9)).buffer);
  return new Uint8Array(Float32Array.from(v).buffer);
}

/** Same bits, except that NaN only has to meet NaN (payloads may differ between levels). */
function expectSameValues(got: Uint8Array, want: Uint8Array, dtype: AverageOutDType, what: string) {
  expect(got.byteLength, what).toBe(want.byteLength);
  const a = decode(got, dtype), b = decode(want, dtype);
  const ga = new Uint8Array(got), wb = new Uint8Array(want);
  for (let j = 0; j < a.length; j++) {
    if (Number.isNaN(b[j])) {
      if (!Number.isNaN(a[j])) throw new Error(`${what}: element ${j} is ${a[j]}, expected NaN`);
      continue;
    }
    const es = ES[dtype];
    for (let k = 0; k < es; k++)
      if (ga[j * es + k] !== wb[j * es + k]) throw new Error(`${what}: element ${j} is ${a[j]}, expected ${b[j]}`);
  }
}

describe('averageKernel: CPU levels agree with the scalar reference', () => {
  const dtypes: AverageDType[] = ['F32', 'F16', 'BF16', 'F64'];
  for (const n of SIZES) {
    it(`mixed F32/F16/BF16/F64 inputs, n=${n}, every output dtype`, () => {
      const next = rng(1000 + n);
      const inputs = dtypes.map((d) => randomInput(n, d, next));
      const weights = [0.4, -0.15, 0.5, 0.25 + next()];
      for (const out of OUTS) {
        const ref = nat.averageKernel(inputs, dtypes, weights, out, 'scalar');
        expect(ref.out.byteLength).toBe(n * ES[out]);
        for (const level of LEVELS) {
          const r = nat.averageKernel(inputs, dtypes, weights, out, level);
          expect(r.level).toBe(level);
          expectSameValues(r.out, ref.out, out, `${level} ${out} n=${n}`);
          expect(r.nonfinite).toBe(ref.nonfinite);
          expect(r.outNonfinite).toBe(ref.outNonfinite);
        }
      }
    });
  }

  it('single-dtype inputs of every kind, across vector bodies and tails', () => {
    for (const d of dtypes) {
      for (const n of [15, 16, 17, 31, 1000]) {
        const next = rng(7 * n + d.length);
        const inputs = [0, 1, 2].map(() => randomInput(n, d, next));
        for (const out of OUTS) {
          const ref = nat.averageKernel(inputs, [d, d, d], [1 / 3, 1 / 3, 1 / 3], out, 'scalar');
          for (const level of LEVELS)
            expectSameValues(nat.averageKernel(inputs, [d, d, d], [1 / 3, 1 / 3, 1 / 3], out, level).out, ref.out, out, `${d}->${out} ${level} n=${n}`);
        }
      }
    }
  });
});

describe('averageKernel: against float64', () => {
  // fp32 accumulation: every fused multiply-add rounds once, by at most 2^-24 of the running
  // |sum| <= S = Σ|λᵢxᵢ|, so |acc - exact| <= N·2^-24·S; the final rounding to the output dtype
  // adds at most half an output ulp (one ulp allowed, since acc itself is off by the bound above).
  // λ and F64 inputs enter as fp32 (documented), so the float64 reference rounds them the same way.
  const dtypes: AverageDType[] = ['F32', 'BF16', 'F16', 'F64', 'F32'];
  for (const level of LEVELS) {
    it(`${level}: Σ λᵢxᵢ within N·2^-24·Σ|λᵢxᵢ| + 1 output ulp`, () => {
      const n = 100003;
      const next = rng(42);
      const inputs = dtypes.map((d) => {
        const v = randomValues(n, next);
        if (d === 'F32') return new Uint8Array(Float32Array.from(v).buffer);
        if (d === 'F64') return new Uint8Array(Float64Array.from(v, (x) => x * (1 + 1e-10)).buffer);
        return new Uint8Array(Float32Array.from(v).buffer); // re-encoded below
      });
      // 16-bit inputs hold the rounded values of the random data.
      for (const [i, d] of dtypes.entries()) {
        if (d !== 'F16' && d !== 'BF16') continue;
        const v = decode(inputs[i], 'F32');
        const h = new Uint16Array(n);
        for (let j = 0; j < n; j++) h[j] = d === 'F16' ? numberToF16Bits(roundF16(v[j])) : numberToBF16Bits(roundBF16(v[j]));
        inputs[i] = new Uint8Array(h.buffer);
      }
      const weights = [0.3, 0.1, 0.2, -0.05, 0.45];
      const xs = inputs.map((b, i) => decode(b, dtypes[i]));
      for (const out of OUTS) {
        const r = nat.averageKernel(inputs, dtypes, weights, out, level);
        const got = decode(r.out, out);
        for (let j = 0; j < n; j++) {
          let ref = 0, s = 0;
          for (let i = 0; i < weights.length; i++) {
            const t = Math.fround(weights[i]) * Math.fround(xs[i][j]);
            ref += t;
            s += Math.abs(t);
          }
          const accBound = weights.length * 2 ** -24 * s;
          const tol = accBound + ulpOut(Math.abs(ref) + accBound, out);
          if (!(Math.abs(got[j] - ref) <= tol)) throw new Error(`${level} ${out} element ${j}: ${got[j]} vs ${ref} (tol ${tol})`);
        }
      }
    });
  }

  it('a single input with weight 1 is exactly the input, rounded to the output dtype', () => {
    const next = rng(5);
    const x = new Float32Array(randomValues(4096, next));
    for (const out of OUTS) {
      const got = decode(nat.averageKernel([new Uint8Array(x.buffer)], ['F32'], [1], out).out, out);
      for (let j = 0; j < x.length; j++) expect(got[j]).toBe(roundOut(x[j], out));
    }
  });
});

describe('averageKernel: conversions', () => {
  const all16 = new Uint8Array(new Uint16Array(65536).map((_, i) => i).buffer);

  it('every F16 bit pattern widens exactly to F32', () => {
    for (const level of LEVELS) {
      const got = new Float32Array(nat.averageKernel([all16], ['F16'], [1], 'F32', level).out.buffer);
      for (let h = 0; h < 65536; h++) {
        const want = f16BitsToNumber(h);
        if (Number.isNaN(want)) expect(got[h], `${level} ${h}`).toBeNaN();
        else if (!Object.is(got[h], want)) throw new Error(`${level}: f16 0x${h.toString(16)} -> ${got[h]}, expected ${want}`);
      }
    }
  });

  it('every BF16 bit pattern widens exactly to F32', () => {
    for (const level of LEVELS) {
      const got = new Float32Array(nat.averageKernel([all16], ['BF16'], [1], 'F32', level).out.buffer);
      for (let h = 0; h < 65536; h++) {
        const want = bf16BitsToNumber(h);
        if (Number.isNaN(want)) expect(got[h]).toBeNaN();
        else if (!Object.is(got[h], want)) throw new Error(`${level}: bf16 0x${h.toString(16)} -> ${got[h]}, expected ${want}`);
      }
    }
  });

  // Edge cases of both narrowings plus random bit patterns over the whole f32 range.
  function narrowingCases(): Float32Array {
    const edges = [
      0, -0, 1, -1, Infinity, -Infinity, 2 ** -149, -(2 ** -149), 2 ** -126, 1.1754942e-38,
      3.4028234663852886e38, -3.4028234663852886e38,
      // f16: smallest subnormal, halfway below it (-> 0, even), just above halfway, 1.5 ulp, max
      // subnormal, smallest normal, max, just below and at the overflow threshold, ties at 1.
      2 ** -24, 2 ** -25, 2 ** -25 * (1 + 2 ** -20), 3 * 2 ** -26, 2 ** -14 - 2 ** -24, 2 ** -14,
      65504, 65519, 65519.99, 65520, 65536, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11), 2049, 2051,
      // bf16: ties at 1, subnormal ties, largest finite, halfway to overflow.
      1 + 2 ** -8, 1 + 3 * 2 ** -8, 2 ** -134, 3 * 2 ** -135, 2 ** -133, (2 - 2 ** -7) * 2 ** 127,
      (2 - 2 ** -8) * 2 ** 127, 257, 259,
    ];
    const next = rng(99);
    const random = new Uint32Array(200000).map(() => Math.floor(next() * 2 ** 32));
    const v = new Float32Array(edges.length + random.length);
    v.set(edges.map((x) => Math.fround(x)));
    new Uint32Array(v.buffer, edges.length * 4).set(random);
    return v;
  }

  for (const out of ['F16', 'BF16'] as const) {
    it(`F32 -> ${out} rounds to nearest even (subnormals, ties, overflow to inf, NaN stays NaN)`, () => {
      const x = narrowingCases();
      const round = out === 'F16' ? roundF16 : roundBF16;
      const bits = out === 'F16' ? numberToF16Bits : numberToBF16Bits;
      const expMask = out === 'F16' ? 0x7c00 : 0x7f80;
      for (const level of LEVELS) {
        const got = new Uint16Array(nat.averageKernel([new Uint8Array(x.buffer)], ['F32'], [1], out, level).out.buffer);
        for (let j = 0; j < x.length; j++) {
          if (Number.isNaN(x[j])) {
            if ((got[j] & expMask) !== expMask || (got[j] & ~expMask & 0x7fff) === 0)
              throw new Error(`${level}: NaN -> 0x${got[j].toString(16)}, expected a NaN`);
            continue;
          }
          const want = bits(round(x[j]));
          if (got[j] !== want)
            throw new Error(`${level}: ${x[j]} -> 0x${got[j].toString(16)}, expected 0x${want.toString(16)}`);
        }
      }
    });
  }

  it('F64 inputs narrow to fp32 with round-to-nearest-even, ties and subnormals included', () => {
    const next = rng(3);
    const vals: number[] = [0, -0, 1e-50, 2 ** -149, 2 ** -150, 3 * 2 ** -151, 1 + 2 ** -24, 1 + 3 * 2 ** -24, -(1 + 2 ** -24)];
    for (let j = 0; j < 50000; j++) vals.push((next() - 0.5) * 2 ** Math.floor(next() * 200 - 100));
    const x = new Float64Array(vals);
    for (const level of LEVELS) {
      const r = nat.averageKernel([new Uint8Array(x.buffer)], ['F64'], [1], 'F32', level);
      expect(r.nonfinite).toBe(-1);
      const got = new Float32Array(r.out.buffer);
      for (let j = 0; j < x.length; j++)
        if (!Object.is(got[j], Math.fround(x[j]))) throw new Error(`${level}: ${x[j]} -> ${got[j]}, expected ${Math.fround(x[j])}`);
    }
  });
});

describe('averageKernel: non-finite detection', () => {
  const n = 33; // two AVX-512 vectors and a one-element tail
  const clean = (d: AverageDType) => new Uint8Array(n * ES[d]);
  function poke(b: Uint8Array, d: AverageDType, j: number, v: number) {
    const view = new DataView(b.buffer, b.byteOffset);
    if (d === 'F32') view.setFloat32(4 * j, v, true);
    else if (d === 'F64') view.setFloat64(8 * j, v, true);
    else if (d === 'F16') view.setUint16(2 * j, numberToF16Bits(v), true);
    else view.setUint16(2 * j, Number.isNaN(v) ? 0x7fc0 : numberToBF16Bits(v), true);
  }

  for (const level of LEVELS) {
    it(`${level}: reports the lowest input holding NaN/inf, in vector bodies and tails`, () => {
      const dtypes: AverageDType[] = ['F32', 'F16', 'BF16', 'F64'];
      for (const j of [0, 5, 31, 32]) {
        const ins = dtypes.map(clean);
        poke(ins[3], 'F64', j, NaN);
        poke(ins[2], 'BF16', (j + 1) % n, Infinity);
        expect(nat.averageKernel(ins, dtypes, [0.25, 0.25, 0.25, 0.25], 'F32', level).nonfinite).toBe(2);
        poke(ins[1], 'F16', j, -Infinity);
        expect(nat.averageKernel(ins, dtypes, [0.25, 0.25, 0.25, 0.25], 'F32', level).nonfinite).toBe(1);
      }
      const ins = dtypes.map(clean);
      expect(nat.averageKernel(ins, dtypes, [0.25, 0.25, 0.25, 0.25], 'F32', level).nonfinite).toBe(-1);
      poke(ins[3], 'F64', 32, 1e300); // finite in F64, infinite once in fp32
      expect(nat.averageKernel(ins, dtypes, [0.25, 0.25, 0.25, 0.25], 'F32', level).nonfinite).toBe(3);
    });

    it(`${level}: flags outputs beyond the output range`, () => {
      const x = new Float32Array(n);
      x[32] = 1e5;
      const b = new Uint8Array(x.buffer);
      expect(nat.averageKernel([b], ['F32'], [1], 'F16', level).outNonfinite).toBe(true);
      expect(nat.averageKernel([b], ['F32'], [1], 'BF16', level).outNonfinite).toBe(false);
      expect(nat.averageKernel([b], ['F32'], [1], 'F32', level).outNonfinite).toBe(false);
      x[32] = 65519; // rounds down to 65504
      expect(nat.averageKernel([b], ['F32'], [1], 'F16', level).outNonfinite).toBe(false);
    });
  }
});

describe('averageKernel: arguments', () => {
  const a = new Uint8Array(8);
  it('rejects mismatched lengths, unknown dtypes and levels', () => {
    expect(() => nat.averageKernel([a, new Uint8Array(4)], ['F32', 'F32'], [0.5, 0.5], 'F32')).toThrow(RangeError);
    expect(() => nat.averageKernel([a], ['F32', 'F32'], [1], 'F32')).toThrow(RangeError);
    expect(() => nat.averageKernel([a], ['F8' as AverageDType], [1], 'F32')).toThrow(/dtypes\[0\]/);
    expect(() => nat.averageKernel([a], ['F32'], [1], 'F64' as AverageOutDType)).toThrow(RangeError);
    expect(() => nat.averageKernel([a], ['F32'], [1], 'F32', 'sse' as 'avx2')).toThrow(RangeError);
    expect(() => nat.averageKernel([a], ['F32'], [NaN], 'F32')).toThrow(/weights\[0\]/);
    expect(() => nat.averageKernel(['x' as unknown as Uint8Array], ['F32'], [1], 'F32')).toThrow(TypeError);
  });

  it('reads views of SharedArrayBuffers (the training replicas\' gradients), offsets included', () => {
    const shared = new Float32Array(new SharedArrayBuffer(4 * 10));
    shared.set([9, 9, 1, 2, 3, 4, 5, 6, 7, 8]);
    const plain = Float32Array.of(10, 20, 30, 40, 50, 60, 70, 80);
    const view = new Uint8Array(shared.buffer, 8, 32);
    const r = nat.averageKernel([view, new Uint8Array(plain.buffer)], ['F32', 'F32'], [0.5, 0.25], 'F32');
    expect(Array.from(new Float32Array(r.out.buffer, r.out.byteOffset, 8))).toEqual([3, 6, 9, 12, 15, 18, 21, 24]);
  });
});
