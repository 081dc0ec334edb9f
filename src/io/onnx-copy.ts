// A copy of an ONNX model with chosen initializers' data replaced, spliced at the wire level: every
// byte outside the rewritten TensorProto messages (and the length prefixes enclosing them) is
// copied verbatim. The plan lists the output as parts so the averager can write the framing first
// and then stream each tensor's bytes to its planned offset.
import { closeSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { InputError } from '../errors.js';
import { type AtomicFile, openAtomicFiles } from './atomic.js';
import { type FloatDType, dtypeSize, isFloatDType } from './dtype.js';
import { type OnnxInitializer, type OnnxScan, onnxFromDtype, scanOnnx } from './onnx.js';
import { type Field, GRAPH_INITIALIZER, MODEL_GRAPH, TENSOR, WIRE_LEN, WIRE_VARINT, concatBytes, lenField, tagBytes, varintBytes } from './onnx-wire.js';
import { type TensorData, encodeTensorData } from './safetensors.js';
import { AtomicTensorSink, type PlannedTensor, type TensorSink, writeAllAndCommit } from './tensor-io.js';

export interface OnnxCopyOptions {
  /** Initializers whose data the caller supplies; default: every F32/F16/BF16/F64 initializer. */
  replace?: Iterable<string>;
  /** New dtype of a replaced initializer (its data_type changes too); naming one here replaces it. */
  dtypes?: ReadonlyMap<string, FloatDType>;
  /** 'auto' (default): inline raw_data unless the model would reach 2 GiB; true: all rewritten data to `<dest>.data`. */
  externalData?: 'auto' | boolean;
}

export type OnnxPart =
  | { kind: 'copy'; path: string; offset: number; length: number }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'zeros'; length: number }
  | { kind: 'tensor'; name: string; length: number };

export interface OnnxOutputFile {
  path: string;
  parts: OnnxPart[];
  size: number;
}

export interface OnnxCopyPlan {
  srcPath: string;
  model: OnnxOutputFile;
  /** `<dest>.data` when rewritten tensors live outside the model, else null. */
  data: OnnxOutputFile | null;
  /** The caller's tensors in graph order: output file and absolute offset of the payload. */
  tensors: Map<string, PlannedTensor>;
  /** Every source initializer whose TensorProto was rewritten (replaced, or moved out of external data). */
  rewritten: string[];
}

/** The protobuf limit on one serialized message. */
const PROTOBUF_LIMIT = 2 ** 31;
const DATA_ALIGN = 4096;
/** Fields a rewritten TensorProto drops: every data field, external data and its location flag. */
const DROPPED: ReadonlySet<number> = new Set([
  TENSOR.floatData, TENSOR.int32Data, TENSOR.stringData, TENSOR.int64Data, TENSOR.rawData, TENSOR.doubleData,
  TENSOR.uint64Data, TENSOR.externalData, TENSOR.dataLocation,
]);

const q = (s: string) => JSON.stringify(s);

class PartList {
  readonly parts: OnnxPart[] = [];
  size = 0;

  copy(path: string, offset: number, length: number): void {
    if (length === 0) return;
    const last = this.parts[this.parts.length - 1];
    if (last?.kind === 'copy' && last.path === path && last.offset + last.length === offset) last.length += length;
    else this.parts.push({ kind: 'copy', path, offset, length });
    this.size += length;
  }

  push(part: OnnxPart): void {
    this.parts.push(part);
    this.size += part.kind === 'bytes' ? part.bytes.byteLength : part.length;
  }

  bytes(b: Uint8Array): void {
    if (b.byteLength > 0) this.push({ kind: 'bytes', bytes: b });
  }

  append(other: PartList): void {
    for (const p of other.parts) {
      if (p.kind === 'copy') this.copy(p.path, p.offset, p.length);
      else this.push(p);
    }
  }
}

interface Rewrite {
  init: OnnxInitializer;
  framing: { field: Field; fields: Field[] };
  /** Null: bytes come from the source location (a moved external tensor). */
  newDtype: FloatDType | null;
  replaced: boolean;
}

function chooseRewrites(scan: OnnxScan, opts: OnnxCopyOptions): Rewrite[] {
  const byName = new Map(scan.initializers.map((init, i) => [init.name, i]));
  const dtypes = opts.dtypes ?? new Map<string, FloatDType>();
  const replace = new Set(opts.replace ?? scan.initializers.filter((i) => i.unsupported === null).map((i) => i.name));
  for (const name of dtypes.keys()) replace.add(name);
  for (const name of replace) {
    const i = byName.get(name);
    if (i === undefined) throw new InputError(scan.path, `no initializer ${q(name)} to replace`);
    const init = scan.initializers[i];
    if (!init.location || !init.dtype) throw new InputError(scan.path, `initializer ${q(name)} cannot be replaced: ${init.unsupported}`);
    const to = dtypes.get(name);
    if (to !== undefined && (!isFloatDType(to) || !isFloatDType(init.dtype))) {
      throw new InputError(scan.path, `initializer ${q(name)}: cannot change dtype ${init.dtype} to ${to}`);
    }
  }
  const out: Rewrite[] = [];
  scan.initializers.forEach((init, i) => {
    const replaced = replace.has(init.name);
    if (!replaced && init.storage !== 'external') return;
    // External data must move (its location is relative to the source folder), so it must be sized.
    if (!init.location) throw new InputError(scan.path, `external initializer ${q(init.name)} cannot be relocated: ${init.unsupported}`);
    const to = dtypes.get(init.name);
    out.push({ init, framing: scan.framing.initializers[i], newDtype: to && to !== init.dtype ? to : null, replaced });
  });
  return out;
}

/** Tensor byte length after an optional dtype change (dims never change). */
function outputByteLength(r: Rewrite): number {
  return r.newDtype ? r.init.numel * dtypeSize(r.newDtype) : r.init.byteLength;
}

function build(scan: OnnxScan, dest: string, rewrites: Rewrite[], external: boolean): OnnxCopyPlan {
  const src = scan.path;
  const dataPath = external ? `${dest}.data` : null;
  const data = new PartList();
  const graphBody = new PartList();
  const { graph } = scan.framing;
  let cursor = graph.dataStart;
  for (const r of rewrites) {
    const { field, fields } = r.framing;
    const length = outputByteLength(r);
    const body = new PartList();
    for (const f of fields) {
      if (DROPPED.has(f.field) || (r.newDtype && f.field === TENSOR.dataType)) continue;
      body.copy(src, f.start, f.end - f.start);
    }
    if (r.newDtype) body.bytes(concatBytes([tagBytes(TENSOR.dataType, WIRE_VARINT), varintBytes(onnxFromDtype(r.newDtype))]));
    const payload: OnnxPart =
      r.replaced ? { kind: 'tensor', name: r.init.name, length } : { kind: 'copy', ...fileOf(r.init), length };
    if (dataPath) {
      const pad = (DATA_ALIGN - (data.size % DATA_ALIGN)) % DATA_ALIGN;
      if (pad) data.push({ kind: 'zeros', length: pad });
      const offset = data.size;
      if (payload.kind === 'copy') data.copy(payload.path, payload.offset, payload.length);
      else data.push(payload);
      const entry = (k: string, v: string) =>
        lenField(TENSOR.externalData, concatBytes([lenField(1, Buffer.from(k)), lenField(2, Buffer.from(v))]));
      body.bytes(concatBytes([
        tagBytes(TENSOR.dataLocation, WIRE_VARINT), varintBytes(1),
        entry('location', basename(dataPath)), entry('offset', String(offset)), entry('length', String(length)),
      ]));
    } else {
      body.bytes(concatBytes([tagBytes(TENSOR.rawData, WIRE_LEN), varintBytes(length)]));
      body.push(payload);
    }
    graphBody.copy(src, cursor, field.start - cursor);
    graphBody.bytes(concatBytes([tagBytes(GRAPH_INITIALIZER, WIRE_LEN), varintBytes(body.size)]));
    graphBody.append(body);
    cursor = field.end;
  }
  graphBody.copy(src, cursor, graph.end - cursor);

  const model = new PartList();
  model.copy(src, 0, graph.start);
  model.bytes(concatBytes([tagBytes(MODEL_GRAPH, WIRE_LEN), varintBytes(graphBody.size)]));
  model.append(graphBody);
  model.copy(src, graph.end, scan.framing.fileSize - graph.end);

  // Tensor parts are never merged, so their offsets fall out of one pass over each file's parts.
  const byName = new Map(rewrites.map((r) => [r.init.name, r]));
  const found = new Map<string, PlannedTensor>();
  for (const [list, file] of [[model, dest], [data, dataPath]] as const) {
    let pos = 0;
    for (const p of list.parts) {
      if (p.kind === 'tensor') {
        const r = byName.get(p.name)!;
        found.set(p.name, { name: p.name, dtype: r.newDtype ?? r.init.dtype!, shape: r.init.dims, byteLength: p.length, offset: pos, file: file! });
      }
      pos += p.kind === 'bytes' ? p.bytes.byteLength : p.length;
    }
  }
  const tensors = new Map<string, PlannedTensor>();
  for (const r of rewrites) if (r.replaced) tensors.set(r.init.name, found.get(r.init.name)!);
  return {
    srcPath: src,
    model: { path: dest, parts: model.parts, size: model.size },
    data: dataPath ? { path: dataPath, parts: data.parts, size: data.size } : null,
    tensors,
    rewritten: rewrites.map((r) => r.init.name),
  };
}

function fileOf(init: OnnxInitializer): { path: string; offset: number } {
  const loc = init.location!;
  if (loc.kind !== 'file') throw new Error(`onnx-copy: external initializer ${q(init.name)} has no file location`);
  return { path: loc.path, offset: loc.offset };
}

/** Plans `dest` (and `<dest>.data` if needed) as a copy of `srcPath` with chosen initializers rewritten. */
export async function planOnnxCopy(srcPath: string, destPath: string, opts: OnnxCopyOptions = {}): Promise<OnnxCopyPlan> {
  const scan = await scanOnnx(srcPath);
  const rewrites = chooseRewrites(scan, opts);
  const mode = opts.externalData ?? 'auto';
  let plan = build(scan, destPath, rewrites, mode === true);
  if (mode === 'auto' && plan.model.size >= PROTOBUF_LIMIT) plan = build(scan, destPath, rewrites, true);
  if (plan.model.size >= PROTOBUF_LIMIT) {
    throw new InputError(destPath, `model would be ${plan.model.size} bytes even with external data, over the 2 GiB protobuf limit`);
  }
  return plan;
}

const COPY_CHUNK = 1 << 22;

function writeParts(file: AtomicFile, out: OnnxOutputFile): void {
  const fds = new Map<string, number>();
  const chunk = Buffer.allocUnsafe(COPY_CHUNK);
  try {
    let pos = 0;
    for (const p of out.parts) {
      if (p.kind === 'bytes') {
        file.write(p.bytes, pos);
        pos += p.bytes.byteLength;
        continue;
      }
      if (p.kind === 'zeros') file.write(new Uint8Array(p.length), pos);
      if (p.kind === 'copy') {
        if (!fds.has(p.path)) fds.set(p.path, openSync(p.path, 'r'));
        for (let done = 0; done < p.length; ) {
          const n = readSync(fds.get(p.path)!, chunk, 0, Math.min(COPY_CHUNK, p.length - done), p.offset + done);
          if (n === 0) throw new InputError(p.path, `file shrank while copying (wanted ${p.length} bytes at ${p.offset})`);
          file.write(chunk.subarray(0, n), pos + done);
          done += n;
        }
      }
      pos += p.length;
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}

/** Writes the framing (every part but the caller's tensors); then stream tensors and commit. */
export function openOnnxCopyWriter(plan: OnnxCopyPlan): TensorSink {
  const outputs = plan.data ? [plan.data, plan.model] : [plan.model];
  return new AtomicTensorSink(plan.tensors, openAtomicFiles(outputs, (out) => out.path, writeParts));
}

export interface OnnxReplacement {
  data: TensorData;
  /** Store as this dtype (default: the initializer's own). */
  dtype?: FloatDType;
}

/** Writes a copy of `srcPath` to `destPath` with the given initializers' data replaced. */
export async function writeOnnxWithInitializers(
  srcPath: string,
  destPath: string,
  replacements: ReadonlyMap<string, OnnxReplacement>,
  opts: Pick<OnnxCopyOptions, 'externalData'> = {},
): Promise<OnnxCopyPlan> {
  const dtypes = new Map<string, FloatDType>();
  for (const [name, r] of replacements) if (r.dtype) dtypes.set(name, r.dtype);
  const plan = await planOnnxCopy(srcPath, destPath, { replace: replacements.keys(), dtypes, externalData: opts.externalData });
  const encoded = [...replacements].map(([name, r]) => {
    const t = plan.tensors.get(name)!;
    return [name, encodeTensorData(destPath, name, t.dtype, r.data, t.byteLength)] as const;
  });
  writeAllAndCommit(openOnnxCopyWriter(plan), encoded);
  return plan;
}
