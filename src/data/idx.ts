// A validating reader for the IDX files of MNIST / Fashion-MNIST (gzipped or plain): the
// magic (0x00000803 uint8 images, 0x00000801 uint8 labels), the dimensions, and the exact
// byte length are checked; any mismatch is a one-line InputError naming the file.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../errors.js';

export type IdxKind = 'images' | 'labels';

export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

const MAGIC: Record<IdxKind, number> = { images: 0x00000803, labels: 0x00000801 };

/** Parses an (uncompressed) IDX buffer; `where` names the file in errors. */
export function parseIdx(buf: Uint8Array, kind: IdxKind, where: string): IdxArray {
  const want = MAGIC[kind];
  if (buf.byteLength < 4) throw new InputError(where, `not an IDX file (${buf.byteLength} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  if (magic !== want) {
    const hex = (m: number) => '0x' + m.toString(16).padStart(8, '0');
    throw new InputError(where, `bad IDX magic ${hex(magic)}, expected ${hex(want)} (uint8 ${kind})`);
  }
  const ndim = want & 0xff;
  const headerLen = 4 + 4 * ndim;
  if (buf.byteLength < headerLen) throw new InputError(where, `truncated IDX header (${buf.byteLength} of ${headerLen} bytes)`);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerLen + count;
  if (buf.byteLength < expected) {
    throw new InputError(where, `truncated IDX data: ${buf.byteLength} bytes, dims [${dims.join(', ')}] need ${expected}`);
  }
  if (buf.byteLength > expected) {
    throw new InputError(where, `IDX file has ${buf.byteLength - expected} trailing bytes after dims [${dims.join(', ')}]`);
  }
  return { dims, data: buf.subarray(headerLen) };
}

/** Reads an IDX file, gunzipping it when it starts with the gzip magic. */
export function readIdxFile(path: string, kind: IdxKind): IdxArray {
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new InputError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch (e) {
      throw new InputError(path, `truncated or corrupt gzip data (${(e as Error).message})`);
    }
  }
  return parseIdx(raw, kind, path);
}
