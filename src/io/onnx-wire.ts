// Protobuf wire-level walk of an .onnx file through a small read window: finds the graph and each
// initializer's fields with absolute byte offsets, never loading tensor payloads. ONNX files can
// approach 2 GB, and the averager needs offsets, not decoded tensors.
import { fstatSync, readSync } from 'node:fs';

/** Malformed protobuf framing; callers turn it into an InputError naming the file. */
export class WireError extends Error {}

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** Field numbers used here (onnx.proto). */
export const MODEL_GRAPH = 7;
export const GRAPH_INITIALIZER = 5;
export const TENSOR = {
  dims: 1, dataType: 2, segment: 3, floatData: 4, int32Data: 5, stringData: 6, int64Data: 7, name: 8,
  rawData: 9, doubleData: 10, uint64Data: 11, docString: 12, externalData: 13, dataLocation: 14,
} as const;

/** A field of a message: tag at `start`, payload [dataStart, end) (for LEN, after the length). */
export interface Field {
  field: number;
  wire: number;
  start: number;
  dataStart: number;
  end: number;
}

/** Forward reader over a file with a refillable window; `pos` is an absolute file offset. */
export class FileCursor {
  private buf: Buffer;
  private bufPos = 0;
  private bufLen = 0;
  pos = 0;

  constructor(readonly fd: number, readonly size: number, window = 1 << 16) {
    this.buf = Buffer.allocUnsafe(window);
  }

  /** Makes at least `n` bytes from `pos` available (fewer only at end of file). */
  private ensure(n: number): void {
    if (this.pos >= this.bufPos && this.pos + n <= this.bufPos + this.bufLen) return;
    const want = Math.min(Math.max(this.buf.length, n), this.size - this.pos);
    if (want > this.buf.length) this.buf = Buffer.allocUnsafe(want);
    readFully(this.fd, this.buf, want, this.pos);
    this.bufPos = this.pos;
    this.bufLen = want;
  }

  /** An unsigned varint up to 2^53 (tags, lengths, enums). */
  varint(): number {
    this.ensure(10);
    let value = 0;
    let scale = 1;
    for (let i = this.pos - this.bufPos; i < this.bufLen; i++) {
      const b = this.buf[i];
      value += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) {
        this.pos = this.bufPos + i + 1;
        if (!Number.isSafeInteger(value)) throw new WireError(`varint at byte ${this.pos} is too large`);
        return value;
      }
      if (i - (this.pos - this.bufPos) >= 9) throw new WireError(`varint at byte ${this.pos} is longer than 10 bytes`);
    }
    throw new WireError(`file ends inside a varint at byte ${this.pos}`);
  }

  skipVarint(): void {
    this.ensure(10);
    for (let i = this.pos - this.bufPos; i < this.bufLen && i - (this.pos - this.bufPos) < 10; i++) {
      if (this.buf[i] < 0x80) {
        this.pos = this.bufPos + i + 1;
        return;
      }
    }
    throw new WireError(`malformed or truncated varint at byte ${this.pos}`);
  }
}

function readFully(fd: number, into: Uint8Array, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, into, done, length - done, position + done);
    if (n === 0) throw new WireError(`file ends at byte ${position + done}, expected ${length - done} more`);
    done += n;
  }
}

/** Reads bytes [offset, offset+length) of an open file. */
export function readAt(fd: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  readFully(fd, out, length, offset);
  return out;
}

/** Reads the field at `cur.pos` and leaves the cursor after it; `limit` is the message's end. */
export function nextField(cur: FileCursor, limit: number): Field {
  const start = cur.pos;
  const tag = cur.varint();
  const field = Math.floor(tag / 8);
  const wire = tag % 8;
  if (field === 0) throw new WireError(`field number 0 at byte ${start}`);
  let dataStart = cur.pos;
  let end: number;
  switch (wire) {
    case WIRE_VARINT:
      cur.skipVarint();
      end = cur.pos;
      break;
    case WIRE_I64:
      end = dataStart + 8;
      break;
    case WIRE_LEN: {
      const len = cur.varint();
      dataStart = cur.pos;
      end = dataStart + len;
      break;
    }
    case WIRE_I32:
      end = dataStart + 4;
      break;
    default:
      throw new WireError(`unsupported wire type ${wire} (field ${field}) at byte ${start}`);
  }
  if (end > limit) throw new WireError(`field ${field} at byte ${start} runs past the end of its message (byte ${limit})`);
  cur.pos = end;
  return { field, wire, start, dataStart, end };
}

/** The fields of the message in [start, end), without their payloads. */
export function messageFields(cur: FileCursor, start: number, end: number): Field[] {
  const out: Field[] = [];
  cur.pos = start;
  while (cur.pos < end) out.push(nextField(cur, end));
  return out;
}

export interface TensorFraming {
  /** The initializer field in GraphProto: tag at `field.start`, TensorProto body [dataStart, end). */
  field: Field;
  /** The TensorProto's own fields in file order. */
  fields: Field[];
}

export interface ModelFraming {
  fileSize: number;
  /** The GraphProto field of ModelProto. */
  graph: Field;
  initializers: TensorFraming[];
}

/** Walks ModelProto -> graph -> initializers of an open file. */
export function scanModelFraming(fd: number): ModelFraming {
  const fileSize = fstatSync(fd).size;
  const cur = new FileCursor(fd, fileSize);
  let graph: Field | null = null;
  while (cur.pos < fileSize) {
    const f = nextField(cur, fileSize);
    if (f.field !== MODEL_GRAPH) continue;
    if (f.wire !== WIRE_LEN) throw new WireError(`graph field at byte ${f.start} is not a message`);
    if (graph) throw new WireError(`second graph field at byte ${f.start}`);
    graph = f;
  }
  if (!graph) throw new WireError('no graph (not an ONNX model?)');
  const initializers: TensorFraming[] = [];
  for (const f of messageFields(cur, graph.dataStart, graph.end)) {
    if (f.field !== GRAPH_INITIALIZER) continue;
    if (f.wire !== WIRE_LEN) throw new WireError(`initializer field at byte ${f.start} is not a message`);
    initializers.push({ field: f, fields: [] });
  }
  for (const t of initializers) t.fields = messageFields(cur, t.field.dataStart, t.field.end);
  return { fileSize, graph, initializers };
}

/** Protobuf varint bytes of a non-negative safe integer. */
export function varintBytes(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/** Tag bytes of field `field` with wire type `wire`. */
export function tagBytes(field: number, wire: number): Uint8Array {
  return varintBytes(field * 8 + wire);
}

/** A whole LEN field (tag, length, payload) as bytes. */
export function lenField(field: number, payload: Uint8Array): Uint8Array {
  return concatBytes([tagBytes(field, WIRE_LEN), varintBytes(payload.byteLength), payload]);
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
