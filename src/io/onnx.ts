// ONNX models as checkpoints: each top-level graph initializer with its dtype, dims and where its
// bytes are (a range of the .onnx file for raw_data and packed float/double data, a range of a
// contained external data file, or decoded bytes for int32_data/int64_data storage).
import { closeSync, openSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import onnxProto from 'onnx-proto';
import { InputError } from '../errors.js';
import { type DType, isFloatDType, tensorByteLength } from './dtype.js';
import {
  type Field, type ModelFraming, type TensorFraming, TENSOR, WIRE_LEN, WireError, readAt, scanModelFraming,
} from './onnx-wire.js';
import { type TensorLocation, resolveInside } from './tensor-io.js';

export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.ModelProto;
type TensorProto = onnxProto.onnx.TensorProto;

/** ONNX TensorProto.DataType -> checkpoint dtype code, for every type with a fixed byte size. */
const ONNX_TO_DTYPE: Readonly<Record<number, DType>> = {
  1: 'F32', 2: 'U8', 3: 'I8', 4: 'U16', 5: 'I16', 6: 'I32', 7: 'I64', 9: 'BOOL', 10: 'F16', 11: 'F64',
  12: 'U32', 13: 'U64', 14: 'C64', 16: 'BF16', 17: 'F8_E4M3', 18: 'F8_E4M3FNUZ', 19: 'F8_E5M2', 20: 'F8_E5M2FNUZ',
};
const ONNX_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING',
  9: 'BOOL', 10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64', 15: 'COMPLEX128',
  16: 'BFLOAT16', 17: 'FLOAT8E4M3FN', 18: 'FLOAT8E4M3FNUZ', 19: 'FLOAT8E5M2', 20: 'FLOAT8E5M2FNUZ', 21: 'UINT4',
  22: 'INT4', 23: 'FLOAT4E2M1',
};

export function onnxTypeName(dataType: number): string {
  return ONNX_TYPE_NAMES[dataType] ?? `type ${dataType}`;
}

export function dtypeFromOnnx(dataType: number): DType | null {
  return ONNX_TO_DTYPE[dataType] ?? null;
}

export function onnxFromDtype(dtype: DType): number {
  for (const [k, v] of Object.entries(ONNX_TO_DTYPE)) if (v === dtype) return Number(k);
  throw new RangeError(`dtype ${dtype} has no ONNX data type`);
}

export type OnnxStorage =
  | 'raw_data' | 'float_data' | 'double_data' | 'int32_data' | 'int64_data' | 'uint64_data' | 'external' | 'empty';

export interface OnnxInitializer {
  name: string;
  /** ONNX TensorProto.DataType. */
  dataType: number;
  /** Checkpoint dtype code; null when the ONNX type has none (STRING, COMPLEX128, 4-bit types). */
  dtype: DType | null;
  dims: number[];
  numel: number;
  /** Bytes of the data in raw (little-endian) form; 0 when `location` is null. */
  byteLength: number;
  storage: OnnxStorage | null;
  /** Null when the data cannot be expressed as raw bytes (see `unsupported`); `storage` may still say 'external'. */
  location: TensorLocation | null;
  /** Why the toolkit cannot average this tensor, or null for F32/F16/BF16/F64 with a location. */
  unsupported: string | null;
}

export interface OnnxScan {
  path: string;
  framing: ModelFraming;
  initializers: OnnxInitializer[];
}

const q = (s: string) => JSON.stringify(s);

type Int64Like = number | { low: number; high: number };
function int64(v: Int64Like, unsigned = false): bigint {
  if (typeof v === 'number') return BigInt(v);
  const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}

/** Fields whose payload can be large and is located, not decoded. */
function isBulk(f: Field): boolean {
  return f.wire === WIRE_LEN && (f.field === TENSOR.rawData || f.field === TENSOR.floatData || f.field === TENSOR.doubleData);
}

/** Decodes a TensorProto from its non-bulk fields only (one read per run of adjacent fields). */
function decodeMetadata(fd: number, t: TensorFraming): TensorProto {
  const chunks: Uint8Array[] = [];
  let runStart = -1;
  let runEnd = -1;
  const flush = () => {
    if (runStart >= 0) chunks.push(readAt(fd, runStart, runEnd - runStart));
    runStart = -1;
  };
  for (const f of t.fields) {
    if (isBulk(f)) {
      flush();
      continue;
    }
    if (runStart < 0) runStart = f.start;
    runEnd = f.end;
  }
  flush();
  const body = Buffer.concat(chunks);
  return onnx.TensorProto.decode(body);
}

/** Packs typed-field values (int32_data etc.) into little-endian raw bytes of `dtype`. */
function typedToBytes(name: string, proto: TensorProto, dtype: DType, numel: number): { storage: OnnxStorage; bytes: Uint8Array } | string {
  const count = (n: number, storage: OnnxStorage) => (n === numel ? null : `${storage} holds ${n} values, dims need ${numel}`);
  const i32 = proto.int32Data ?? [];
  const i64 = (proto.int64Data ?? []) as Int64Like[];
  const u64 = (proto.uint64Data ?? []) as Int64Like[];
  if (i32.length > 0) {
    const err = count(i32.length, 'int32_data');
    if (err) return err;
    switch (dtype) {
      case 'F16': case 'BF16': case 'U16': case 'I16':
        return { storage: 'int32_data', bytes: new Uint8Array(Uint16Array.from(i32, (v) => v & 0xffff).buffer) };
      case 'U8': case 'I8': case 'BOOL': case 'F8_E4M3': case 'F8_E4M3FNUZ': case 'F8_E5M2': case 'F8_E5M2FNUZ':
        return { storage: 'int32_data', bytes: Uint8Array.from(i32, (v) => v & 0xff) };
      case 'I32':
        return { storage: 'int32_data', bytes: new Uint8Array(Int32Array.from(i32).buffer) };
      default:
        return `int32_data cannot hold ${dtype}`;
    }
  }
  if (i64.length > 0) {
    if (dtype !== 'I64') return `int64_data cannot hold ${dtype}`;
    return count(i64.length, 'int64_data') ?? { storage: 'int64_data', bytes: new Uint8Array(BigInt64Array.from(i64, (v) => int64(v)).buffer) };
  }
  if (u64.length > 0) {
    const err = count(u64.length, 'uint64_data');
    if (err) return err;
    if (dtype === 'U64') return { storage: 'uint64_data', bytes: new Uint8Array(BigUint64Array.from(u64, (v) => int64(v, true)).buffer) };
    if (dtype === 'U32') return { storage: 'uint64_data', bytes: new Uint8Array(Uint32Array.from(u64, (v) => Number(int64(v, true))).buffer) };
    return `uint64_data cannot hold ${dtype}`;
  }
  if (numel === 0) return { storage: 'empty', bytes: new Uint8Array(0) };
  return `no data for ${numel} ${dtype} values (${name})`;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

async function locateExternal(path: string, proto: TensorProto, byteLength: number): Promise<TensorLocation | string> {
  const kv = new Map<string, string>();
  for (const e of proto.externalData ?? []) kv.set(e.key ?? '', e.value ?? '');
  const location = kv.get('location');
  if (location === undefined) return 'external data without a "location"';
  const file = await resolveInside(dirname(path), location, path, `tensor ${q(proto.name ?? '')}: external data location`);
  const offsetText = kv.get('offset') ?? '0';
  if (!DECIMAL.test(offsetText) || !Number.isSafeInteger(Number(offsetText))) return `external data offset ${q(offsetText)} is not an integer`;
  const offset = Number(offsetText);
  const fileSize = (await stat(file)).size;
  const lengthText = kv.get('length');
  if (lengthText !== undefined && (!DECIMAL.test(lengthText) || !Number.isSafeInteger(Number(lengthText)))) {
    return `external data length ${q(lengthText)} is not an integer`;
  }
  const length = lengthText === undefined ? byteLength : Number(lengthText);
  if (length !== byteLength) return `external data length ${length} but dims need ${byteLength} bytes`;
  if (offset + length > fileSize) return `external data [${offset}, ${offset + length}) runs past the end of ${location} (${fileSize} bytes)`;
  return { kind: 'file', path: file, offset, byteLength };
}

async function describe(path: string, fd: number, t: TensorFraming): Promise<OnnxInitializer> {
  const proto = decodeMetadata(fd, t);
  const name = proto.name ?? '';
  const fail = (problem: string) => new InputError(path, `initializer ${q(name)}: ${problem}`);
  const dims = (proto.dims ?? []).map((d) => int64(d as Int64Like));
  if (dims.some((d) => d < 0n || d > BigInt(Number.MAX_SAFE_INTEGER))) throw fail(`dims [${dims.join(', ')}] are not non-negative integers`);
  const shape = dims.map(Number);
  const dataType = proto.dataType ?? 0;
  const dtype = dtypeFromOnnx(dataType);
  const external = proto.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
  const base = { name, dataType, dtype, dims: shape, numel: 0, byteLength: 0, storage: null, location: null };
  if (!dtype) {
    const numel = Number(dims.reduce((a, b) => a * b, 1n));
    return { ...base, numel, storage: external ? 'external' : null, unsupported: `ONNX type ${onnxTypeName(dataType)} has no raw byte form here` };
  }
  const size = tensorByteLength(dtype, shape);
  if (typeof size === 'string') throw fail(size);
  const sized = { ...base, numel: size.numel, byteLength: size.byteLength };
  if ((proto.segment ?? null) !== null) return { ...sized, storage: external ? 'external' : null, unsupported: 'segmented tensors are not supported' };
  const floatOk = isFloatDType(dtype) ? null : `unsupported dtype ${dtype} (F32, F16, BF16, F64 only)`;

  if (external) {
    const loc = await locateExternal(path, proto, size.byteLength);
    if (typeof loc === 'string') throw fail(loc);
    return { ...sized, storage: 'external', location: loc, unsupported: floatOk };
  }
  const bulk = (field: number) => t.fields.filter((f) => f.field === field);
  const raw = bulk(TENSOR.rawData).filter((f) => f.wire === WIRE_LEN);
  if (raw.length > 0) {
    const last = raw[raw.length - 1]; // protobuf: the last value of a bytes field wins
    if (last.end - last.dataStart !== size.byteLength) throw fail(`raw_data is ${last.end - last.dataStart} bytes, dims need ${size.byteLength}`);
    return { ...sized, storage: 'raw_data', location: { kind: 'file', path, offset: last.dataStart, byteLength: size.byteLength }, unsupported: floatOk };
  }
  for (const [field, storage, want] of [[TENSOR.floatData, 'float_data', ['F32', 'C64']], [TENSOR.doubleData, 'double_data', ['F64']]] as const) {
    const spans = bulk(field);
    if (spans.length === 0) continue;
    if (!(want as readonly string[]).includes(dtype)) throw fail(`${storage} cannot hold ${dtype}`);
    // Usually one packed run (a file range); otherwise concatenate every run and single value.
    const bytes = spans.reduce((s, f) => s + (f.end - f.dataStart), 0);
    if (bytes !== size.byteLength) throw fail(`${storage} holds ${bytes} bytes, dims need ${size.byteLength}`);
    const location: TensorLocation =
      spans.length === 1 && spans[0].wire === WIRE_LEN
        ? { kind: 'file', path, offset: spans[0].dataStart, byteLength: bytes }
        : { kind: 'memory', bytes: Buffer.concat(spans.map((f) => readAt(fd, f.dataStart, f.end - f.dataStart))) };
    return { ...sized, storage, location, unsupported: floatOk };
  }
  const typed = typedToBytes(name, proto, dtype, size.numel);
  if (typeof typed === 'string') throw fail(typed);
  return { ...sized, storage: typed.storage, location: { kind: 'memory', bytes: typed.bytes }, unsupported: floatOk };
}

/** One-line InputError for anything that is not a readable ONNX model. */
function notOnnx(path: string, e: unknown): InputError {
  if (e instanceof InputError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code) return new InputError(path, `cannot read (${code})`);
  const why = (e as Error).message.split('\n')[0];
  return new InputError(path, `not a valid ONNX model (${why})`);
}

/** The framing and every top-level initializer of an .onnx file, in graph order. */
export async function scanOnnx(path: string): Promise<OnnxScan> {
  try {
    return await withFdAsync(path, async (fd) => {
      const framing = scanModelFraming(fd);
      const initializers: OnnxInitializer[] = [];
      const seen = new Set<string>();
      for (const t of framing.initializers) {
        const init = await describe(path, fd, t);
        if (seen.has(init.name)) throw new InputError(path, `two initializers named ${q(init.name)}`);
        seen.add(init.name);
        initializers.push(init);
      }
      return { path, framing, initializers };
    });
  } catch (e) {
    if (e instanceof WireError || !(e instanceof InputError)) throw notOnnx(path, e);
    throw e;
  }
}

async function withFdAsync<T>(path: string, fn: (fd: number) => Promise<T>): Promise<T> {
  const fd = openSync(path, 'r');
  try {
    return await fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** Every top-level graph initializer of an .onnx file, in graph order. */
export async function readOnnxInitializers(path: string): Promise<OnnxInitializer[]> {
  return (await scanOnnx(path)).initializers;
}

/** Decodes a whole (small) model, e.g. for the training engine; garbage is a one-line InputError. */
export async function loadOnnxModel(path: string): Promise<ModelProto> {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(await readFile(path));
  } catch (e) {
    throw notOnnx(path, e);
  }
  if (!model.graph) throw new InputError(path, 'not a valid ONNX model (no graph)');
  return model;
}
