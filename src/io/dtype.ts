// Checkpoint dtypes (safetensors codes, shared by every format reader) and fp32 <-> f16/bf16/f64
// conversion for small data paths and tests. Rounding is round-to-nearest-even and NaN stays NaN,
// bit for bit the same as native/common/dtype.h.

/** Every safetensors dtype code; sizes are in bits because F4/F6 are sub-byte. */
export const DTYPE_BITS = {
  BOOL: 8, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, C64: 64, F64: 64, I64: 64, U64: 64,
  F4: 4, F6_E2M3: 6, F6_E3M2: 6,
} as const;

export type DType = keyof typeof DTYPE_BITS;
/** The dtypes this toolkit computes with; the others can be listed and copied but not converted. */
export type FloatDType = 'F32' | 'F16' | 'BF16' | 'F64';

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BITS, s);
}

export function isFloatDType(d: string): d is FloatDType {
  return d === 'F32' || d === 'F16' || d === 'BF16' || d === 'F64';
}

/** Bytes per element of a byte-sized dtype (sub-byte dtypes have none). */
export function dtypeSize(d: DType): number {
  const bits = DTYPE_BITS[d];
  if (bits % 8 !== 0) throw new RangeError(`dtype ${d} is ${bits} bits per element, not a whole number of bytes`);
  return bits / 8;
}

/** Data alignment the safetensors writer sorts by: whole bytes, sub-byte types count as 1. */
export function dtypeAlignment(d: DType): number {
  return Math.max(1, Math.floor(DTYPE_BITS[d] / 8));
}

/**
 * Element count and byte size of a tensor, or a reason why the numbers cannot be trusted
 * (overflow past 2^53, or a sub-byte tensor that does not end on a byte boundary).
 */
export function tensorByteLength(dtype: DType, shape: readonly number[]): { numel: number; byteLength: number } | string {
  let numel = 1n;
  for (const d of shape) numel *= BigInt(d);
  const bits = numel * BigInt(DTYPE_BITS[dtype]);
  if (bits % 8n !== 0n) return `${numel} ${dtype} elements are not a whole number of bytes`;
  const bytes = bits / 8n;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) return `byte size ${bytes} overflows`;
  return { numel: Number(numel), byteLength: Number(bytes) };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!LITTLE_ENDIAN) throw new Error('model-ratatouille: checkpoint I/O assumes a little-endian host');

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** fp32 value -> bf16 bits, round-to-nearest-even; NaN stays a (quiet) NaN. */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/** fp32 value -> f16 bits, round-to-nearest-even including subnormals; overflow -> inf. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    if (abs < 0x33000000) return sign;
    const mant = (abs & 0x7fffff) | 0x800000;
    const shift = 126 - (abs >>> 23);
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) !== 0)) half++;
    return sign | half;
  }
  const r = abs + 0xfff + ((abs >>> 13) & 1);
  return sign | ((((r >>> 23) - 112) << 10) & 0x7c00) | ((r >>> 13) & 0x3ff);
}

export function f16BitsToF32(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) {
      u32[0] = sign;
    } else {
      let e = -1;
      do {
        e++;
        mant <<= 1;
      } while ((mant & 0x400) === 0);
      u32[0] = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp === 0x1f) {
    u32[0] = sign | 0x7f800000 | (mant << 13);
  } else {
    u32[0] = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return f32[0];
}

/** A typed view needs an aligned byteOffset; copy when the bytes sit at an odd place. */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : bytes.slice();
}

/** Little-endian bytes of `dtype` -> Float32Array (F64 rounds to nearest, like a cast). */
export function decodeToF32(bytes: Uint8Array, dtype: FloatDType): Float32Array {
  const size = dtypeSize(dtype);
  if (bytes.byteLength % size !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  const n = bytes.byteLength / size;
  const b = aligned(bytes, size);
  switch (dtype) {
    case 'F32':
      return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    case 'F64':
      return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, n));
    case 'F16':
    case 'BF16': {
      const h = new Uint16Array(b.buffer, b.byteOffset, n);
      const out = new Float32Array(n);
      const conv = dtype === 'F16' ? f16BitsToF32 : bf16BitsToF32;
      for (let i = 0; i < n; i++) out[i] = conv(h[i]);
      return out;
    }
  }
}

/** Float32Array -> little-endian bytes of `dtype` (F32 is copied; F64 widens exactly). */
export function encodeFromF32(values: Float32Array, dtype: FloatDType): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(values.slice().buffer);
    case 'F64':
      return new Uint8Array(Float64Array.from(values).buffer);
    case 'F16':
    case 'BF16': {
      const out = new Uint16Array(values.length);
      const conv = dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < values.length; i++) out[i] = conv(values[i]);
      return new Uint8Array(out.buffer);
    }
  }
}

/** The little-endian bytes of any typed array, without copying. */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
