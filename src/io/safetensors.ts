// safetensors: u64 LE header length N, N bytes of JSON, then the byte buffer. The reader checks
// the file in byte order, one named error per check (as safetensors' own read_metadata does), and
// the writer runs its planned layout through the same validator before writing a byte.
import { open } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { openAtomicFiles } from './atomic.js';
import {
  type DType, type FloatDType, bytesOf, decodeToF32, dtypeAlignment, encodeFromF32, isDType, isFloatDType,
  tensorByteLength,
} from './dtype.js';
import { inspectJsonKeys } from './json-strict.js';
import { AtomicTensorSink, type PlannedTensor, type TensorSink, readRange, writeAllAndCommit } from './tensor-io.js';

/** The format's cap on the JSON header (safetensors MAX_HEADER_SIZE). */
export const MAX_HEADER_SIZE = 100_000_000;

export type SafetensorsErrorCode =
  | 'HeaderTooSmall' | 'HeaderTooLarge' | 'InvalidHeaderLength' | 'InvalidHeaderStart' | 'InvalidHeaderUtf8'
  | 'InvalidHeaderJson' | 'DuplicateKey' | 'InvalidMetadata' | 'InvalidTensorInfo'
  | 'UnknownDtype' | 'InvalidShape' | 'InvalidOffsets' | 'ValidationOverflow' | 'TensorInvalidInfo'
  | 'OffsetOutOfRange' | 'Gap' | 'Overlap' | 'MetadataIncompleteBuffer' | 'UnsupportedDtype' | 'NoSuchTensor';

/** A rejected safetensors file (or write request): `code` names the check that failed. */
export class SafetensorsError extends InputError {
  constructor(path: string, readonly code: SafetensorsErrorCode, problem: string) {
    super(path, problem);
  }
}

export interface SafetensorsTensor {
  name: string;
  dtype: DType;
  shape: number[];
  numel: number;
  byteLength: number;
  /** Absolute offset of the tensor's first byte in the file. */
  offset: number;
  /** As written in the header: relative to the start of the byte buffer. */
  dataOffsets: [number, number];
}

export interface SafetensorsFile {
  path: string;
  fileSize: number;
  /** N, the JSON header's length in bytes. */
  headerSize: number;
  /** 8 + N: where the byte buffer starts. */
  dataStart: number;
  /** In header order. */
  tensors: Map<string, SafetensorsTensor>;
  /** In data order (ascending offset). */
  byOffset: SafetensorsTensor[];
  metadata: Record<string, string> | null;
}

const q = (s: string) => JSON.stringify(s);

function isSafeNonNegative(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseEntry(path: string, name: string, raw: unknown, dataStart: number): SafetensorsTensor {
  const fail = (code: SafetensorsErrorCode, problem: string) => new SafetensorsError(path, code, `tensor ${q(name)}: ${problem}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail('InvalidTensorInfo', 'entry is not an object');
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string') throw fail('InvalidTensorInfo', 'missing string "dtype"');
  if (!isDType(dtype)) throw fail('UnknownDtype', `unknown dtype ${q(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isSafeNonNegative)) {
    throw fail('InvalidShape', `shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeNonNegative) || offsets[0] > offsets[1]) {
    throw fail('InvalidOffsets', `data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
  }
  const size = tensorByteLength(dtype, shape);
  if (typeof size === 'string') throw fail('ValidationOverflow', `shape ${JSON.stringify(shape)}: ${size}`);
  const [begin, end] = offsets as [number, number];
  return { name, dtype, shape: shape as number[], numel: size.numel, byteLength: size.byteLength, offset: dataStart + begin, dataOffsets: [begin, end] };
}

/** Validates the N JSON bytes of a file of `fileSize` bytes (length prefix already checked). */
export function parseSafetensorsHeader(path: string, header: Uint8Array, fileSize: number): SafetensorsFile {
  const headerSize = header.byteLength;
  const dataStart = 8 + headerSize;
  if (header[0] !== 0x7b) throw new SafetensorsError(path, 'InvalidHeaderStart', 'header does not start with "{"');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(header);
  } catch {
    throw new SafetensorsError(path, 'InvalidHeaderUtf8', 'header is not valid UTF-8');
  }
  // Valid JSON that starts with "{" is an object: no separate check needed.
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(path, 'InvalidHeaderJson', `header is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const { topLevel, duplicate: dup } = inspectJsonKeys(text);
  if (dup) {
    const where = dup.path.length === 0 ? 'tensor name' : `key in ${dup.path.map(q).join('.')}`;
    throw new SafetensorsError(path, 'DuplicateKey', `duplicate ${where} ${q(dup.key)}`);
  }
  const entries = json as Record<string, unknown>;
  let metadata: Record<string, string> | null = null;
  const tensors = new Map<string, SafetensorsTensor>();
  for (const name of topLevel) {
    if (name === '__metadata__') {
      metadata = parseMetadata(path, entries[name]);
      continue;
    }
    tensors.set(name, parseEntry(path, name, entries[name], dataStart));
  }
  const bufferLength = fileSize - dataStart;
  const byOffset = [...tensors.values()].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let end = 0;
  let prev: SafetensorsTensor | null = null;
  for (const t of byOffset) {
    const [b, e] = t.dataOffsets;
    const fail = (code: SafetensorsErrorCode, problem: string) => new SafetensorsError(path, code, `tensor ${q(t.name)}: ${problem}`);
    if (e > bufferLength) throw fail('OffsetOutOfRange', `data_offsets [${b}, ${e}) run past the ${bufferLength}-byte buffer`);
    if (b > end) throw fail('Gap', `data_offsets [${b}, ${e}) leave a gap after byte ${end}`);
    if (b < end) throw fail('Overlap', `data_offsets [${b}, ${e}) overlap tensor ${q(prev!.name)} (ends at ${end})`);
    if (e - b !== t.byteLength) {
      throw fail('TensorInvalidInfo', `data_offsets [${b}, ${e}) hold ${e - b} bytes but ${t.dtype}${JSON.stringify(t.shape)} needs ${t.byteLength}`);
    }
    end = e;
    prev = t;
  }
  if (end !== bufferLength) {
    throw new SafetensorsError(path, 'MetadataIncompleteBuffer', `${bufferLength - end} bytes after the last tensor's data (polyglot or corrupt file)`);
  }
  return { path, fileSize, headerSize, dataStart, tensors, byOffset, metadata };
}

function parseMetadata(path: string, raw: unknown): Record<string, string> | null {
  if (raw === null) return null;
  const bad = (why: string) => new SafetensorsError(path, 'InvalidMetadata', `__metadata__ ${why}`);
  if (typeof raw !== 'object' || Array.isArray(raw)) throw bad('is not a string-to-string object');
  for (const [k, v] of Object.entries(raw)) if (typeof v !== 'string') throw bad(`value of ${q(k)} is not a string`);
  return { ...(raw as Record<string, string>) };
}

/** Reads and validates only the 8 + N header bytes of `path`. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsFile> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new InputError(path, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new InputError(path, 'not a regular file');
    const fileSize = st.size;
    if (fileSize < 8) throw new SafetensorsError(path, 'HeaderTooSmall', `file is ${fileSize} bytes, too short for the 8-byte header length`);
    const prefix = Buffer.alloc(8);
    await fh.read(prefix, 0, 8, 0);
    const n = prefix.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_SIZE)) throw new SafetensorsError(path, 'HeaderTooLarge', `header length ${n} exceeds the ${MAX_HEADER_SIZE}-byte limit`);
    const headerSize = Number(n);
    if (8 + headerSize > fileSize) {
      throw new SafetensorsError(path, 'InvalidHeaderLength', `header length ${headerSize} runs past the end of the ${fileSize}-byte file`);
    }
    const header = Buffer.alloc(headerSize);
    let done = 0;
    while (done < headerSize) {
      const { bytesRead } = await fh.read(header, done, headerSize - done, 8 + done);
      if (bytesRead === 0) throw new InputError(path, 'file shrank while reading the header');
      done += bytesRead;
    }
    return parseSafetensorsHeader(path, header, fileSize);
  } finally {
    await fh.close();
  }
}

function tensorOf(file: SafetensorsFile, name: string): SafetensorsTensor {
  const t = file.tensors.get(name);
  if (!t) throw new SafetensorsError(file.path, 'NoSuchTensor', `no tensor ${q(name)}`);
  return t;
}

/** The tensor's raw little-endian bytes. */
export async function readTensorBytes(file: SafetensorsFile, name: string): Promise<Uint8Array> {
  const t = tensorOf(file, name);
  return readRange(file.path, t.offset, t.byteLength);
}

export function requireFloatDType(where: string, name: string, dtype: DType): FloatDType {
  if (!isFloatDType(dtype)) throw new SafetensorsError(where, 'UnsupportedDtype', `unsupported dtype ${dtype} for tensor ${q(name)} (F32, F16, BF16, F64 only)`);
  return dtype;
}

/** The tensor converted to fp32 (F32, F16, BF16, F64; anything else is an InputError). */
export async function readTensor(file: SafetensorsFile, name: string): Promise<Float32Array> {
  const t = tensorOf(file, name);
  const dtype = requireFloatDType(file.path, name, t.dtype);
  return decodeToF32(await readRange(file.path, t.offset, t.byteLength), dtype);
}

export interface LoadedTensorF32 {
  dtype: DType;
  shape: number[];
  data: Float32Array;
}

/** Every tensor as fp32, in header order, with one read of the data: for small models. */
export async function readAllF32(path: string): Promise<{ metadata: Record<string, string> | null; tensors: Map<string, LoadedTensorF32> }> {
  const file = await readSafetensorsHeader(path);
  for (const t of file.tensors.values()) requireFloatDType(path, t.name, t.dtype);
  const data = await readRange(path, file.dataStart, file.fileSize - file.dataStart);
  const tensors = new Map<string, LoadedTensorF32>();
  for (const t of file.tensors.values()) {
    const bytes = data.subarray(t.dataOffsets[0], t.dataOffsets[1]);
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: decodeToF32(bytes, t.dtype as FloatDType) });
  }
  return { metadata: file.metadata, tensors };
}

// ---- writing ------------------------------------------------------------------------------------

export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: readonly number[];
}

export interface SafetensorsPlan {
  dest: string;
  /** The 8-byte length prefix and the space-padded JSON header. */
  headerBytes: Uint8Array;
  dataStart: number;
  totalSize: number;
  /** In layout order; `offset` is absolute. */
  tensors: Map<string, PlannedTensor>;
}

const utf8 = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Plans a safetensors file: tensors sorted by dtype alignment (descending) then name, as the
 * reference writer does, header padded with spaces to a multiple of 8, layout re-validated.
 */
export function planSafetensors(dest: string, entries: readonly SafetensorsEntry[], metadata?: Record<string, string> | null): SafetensorsPlan {
  const fail = (code: SafetensorsErrorCode, problem: string) => new SafetensorsError(dest, code, problem);
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.name === '__metadata__') throw fail('InvalidTensorInfo', 'a tensor cannot be named "__metadata__"');
    if (seen.has(e.name)) throw fail('DuplicateKey', `duplicate tensor name ${q(e.name)}`);
    seen.add(e.name);
    if (!isDType(e.dtype)) throw fail('UnknownDtype', `tensor ${q(e.name)}: unknown dtype ${q(String(e.dtype))}`);
  }
  const sorted = [...entries].sort((a, b) => dtypeAlignment(b.dtype) - dtypeAlignment(a.dtype) || compareUtf8(a.name, b.name));
  // Built by hand: an object literal would move integer-like names ("0", "1") to the front.
  const parts: string[] = metadata ? [`"__metadata__":${JSON.stringify(metadata)}`] : [];
  let cursor = 0;
  for (const e of sorted) {
    if (!e.shape.every(isSafeNonNegative)) throw fail('InvalidShape', `tensor ${q(e.name)}: shape ${JSON.stringify(e.shape)} is not an array of non-negative integers`);
    const size = tensorByteLength(e.dtype, e.shape);
    if (typeof size === 'string') throw fail('ValidationOverflow', `tensor ${q(e.name)}: ${size}`);
    parts.push(`${q(e.name)}:${JSON.stringify({ dtype: e.dtype, shape: e.shape, data_offsets: [cursor, cursor + size.byteLength] })}`);
    cursor += size.byteLength;
  }
  let json = utf8.encode(`{${parts.join(',')}}`);
  const padded = json.byteLength + ((8 - (json.byteLength % 8)) % 8);
  if (padded > MAX_HEADER_SIZE) throw fail('HeaderTooLarge', `header would be ${padded} bytes, over the ${MAX_HEADER_SIZE}-byte limit`);
  const headerBytes = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(headerBytes.buffer).setBigUint64(0, BigInt(padded), true);
  headerBytes.set(json, 8);
  json = headerBytes.subarray(8);
  const totalSize = 8 + padded + cursor;
  if (!Number.isSafeInteger(totalSize)) throw fail('ValidationOverflow', `file size ${totalSize} overflows`);
  const file = parseSafetensorsHeader(dest, json, totalSize);
  const tensors = new Map<string, PlannedTensor>();
  for (const t of file.byOffset) tensors.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.byteLength, offset: t.offset, file: dest });
  return { dest, headerBytes, dataStart: file.dataStart, totalSize, tensors };
}

/** Opens the atomic output with the header written; stream each tensor's bytes, then commit. */
export function openSafetensorsWriter(plan: SafetensorsPlan): TensorSink {
  return new AtomicTensorSink(plan.tensors, openAtomicFiles([plan], (p) => p.dest, (f, p) => f.write(p.headerBytes, 0)));
}

/** fp32 values (converted to the tensor's float dtype), fp64 values (F64 or F32), or raw bytes. */
export type TensorData = Float32Array | Float64Array | Uint8Array;

export interface TensorToWrite extends SafetensorsEntry {
  data: TensorData;
}

/** The little-endian bytes of `data` as `dtype`, checked against the expected byte length. */
export function encodeTensorData(where: string, name: string, dtype: DType, data: TensorData, byteLength: number): Uint8Array {
  let bytes: Uint8Array;
  if (data instanceof Float32Array) {
    bytes = encodeFromF32(data, requireFloatDType(where, name, dtype));
  } else if (data instanceof Float64Array) {
    if (dtype === 'F64') bytes = bytesOf(data);
    else if (dtype === 'F32') bytes = bytesOf(Float32Array.from(data));
    else throw new InputError(where, `tensor ${q(name)}: Float64Array data can be written as F64 or F32, not ${dtype}`);
  } else {
    bytes = data;
  }
  if (bytes.byteLength !== byteLength) {
    throw new InputError(where, `tensor ${q(name)}: data is ${bytes.byteLength} bytes as ${dtype}, shape needs ${byteLength}`);
  }
  return bytes;
}

/** Writes a whole safetensors file atomically. */
export function writeSafetensors(dest: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string> | null): void {
  const plan = planSafetensors(dest, tensors, metadata);
  const encoded = tensors.map((t) => [t.name, encodeTensorData(dest, t.name, t.dtype, t.data, plan.tensors.get(t.name)!.byteLength)] as const);
  writeAllAndCommit(openSafetensorsWriter(plan), encoded);
}
