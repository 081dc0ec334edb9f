// safetensors reader and writer: a reference file built by the Python script (independent layout
// and torch conversions), round trips, streaming writes, and one test per rejection on crafted bytes.
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesOf } from '../../src/io/dtype.js';
import {
  MAX_HEADER_SIZE, SafetensorsError, type SafetensorsErrorCode, type TensorToWrite, openSafetensorsWriter,
  planSafetensors, readAllF32, readSafetensorsHeader, readTensor, readTensorBytes, writeSafetensors,
} from '../../src/io/safetensors.js';
import { bitsOf, expectInputError, fixture, listDir, rng, tempDir } from './helpers.js';

const dir = tempDir();
const expected = JSON.parse(readFileSync(fixture('ref.expected.json'), 'utf8')) as {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: 'F32' | 'F16' | 'BF16' | 'F64'; shape: number[]; source: (number | string)[]; decoded: number[] }>;
};

function sourceData(t: (typeof expected.tensors)[string]): Float32Array | Float64Array {
  if (t.dtype === 'F64') return new Float64Array(new BigUint64Array(t.source.map((h) => BigInt(`0x${h}`))).buffer);
  return new Float32Array(Uint32Array.from(t.source as number[]).buffer);
}

/** Bytes of a file with the given header (JSON text or raw bytes) and data length. */
function crafted(name: string, header: string | Uint8Array, dataBytes: number, lengthOverride?: bigint): string {
  const h = typeof header === 'string' ? Buffer.from(header) : Buffer.from(header);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(h.byteLength));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([prefix, h, Buffer.alloc(dataBytes)]));
  return path;
}

async function expectRejected(path: string, code: SafetensorsErrorCode, ...parts: string[]) {
  const e = await expectInputError(readSafetensorsHeader(path), path, ...parts);
  expect(e).toBeInstanceOf(SafetensorsError);
  expect((e as SafetensorsError).code).toBe(code);
}

describe('reading the reference file', () => {
  it('lists tensors in header order with absolute offsets and metadata', async () => {
    const f = await readSafetensorsHeader(fixture('ref.safetensors'));
    expect(f.metadata).toEqual(expected.metadata);
    expect(f.dataStart % 8).toBe(0);
    expect([...f.tensors.keys()].sort()).toEqual(Object.keys(expected.tensors).sort());
    for (const [name, t] of f.tensors) {
      expect(t.dtype).toBe(expected.tensors[name].dtype);
      expect(t.shape).toEqual(expected.tensors[name].shape);
      expect(t.offset).toBe(f.dataStart + t.dataOffsets[0]);
    }
    expect(f.byOffset.map((t) => t.dataOffsets[0])).toEqual([...f.byOffset.map((t) => t.dataOffsets[0])].sort((a, b) => a - b));
  });

  it('converts every float dtype to fp32 exactly as torch does', async () => {
    const f = await readSafetensorsHeader(fixture('ref.safetensors'));
    for (const [name, t] of Object.entries(expected.tensors)) {
      expect(bitsOf(await readTensor(f, name)), name).toEqual(t.decoded);
    }
    const all = await readAllF32(fixture('ref.safetensors'));
    expect(bitsOf(all.tensors.get('wbf')!.data)).toEqual(expected.tensors.wbf.decoded);
    expect(all.tensors.get('w32')!.shape).toEqual([3, 4]);
  });
});

describe('writing', () => {
  const tensors: TensorToWrite[] = Object.entries(expected.tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: sourceData(t) }));

  it('writes the reference file byte for byte (layout, padding, rounding)', () => {
    const out = join(dir, 'same.safetensors');
    writeSafetensors(out, tensors, expected.metadata);
    expect(Buffer.compare(readFileSync(out), readFileSync(fixture('ref.safetensors')))).toBe(0);
  });

  it('aligns every tensor to its element size and pads the header with spaces', async () => {
    const out = join(dir, 'aligned.safetensors');
    const r = rng(3);
    const mixed: TensorToWrite[] = ['F16', 'F64', 'BF16', 'F32', 'F16'].map((dtype, i) => ({
      name: `t${i}`, dtype: dtype as 'F32', shape: [i + 1, 3], data: Float32Array.from({ length: 3 * (i + 1) }, () => r() - 0.5),
    }));
    writeSafetensors(out, mixed, { k: 'v' });
    const f = await readSafetensorsHeader(out);
    expect(f.headerSize % 8).toBe(0);
    const raw = readFileSync(out);
    const text = raw.subarray(8, 8 + f.headerSize).toString('utf8');
    expect(text).toMatch(/^\{.*\} *$/);
    for (const t of f.tensors.values()) expect(t.dataOffsets[0] % { F64: 8, F32: 4, F16: 2, BF16: 2 }[t.dtype as 'F32']).toBe(0);
    expect(f.byOffset.map((t) => t.name)).toEqual(['t1', 't3', 't0', 't2', 't4']); // alignment desc, then name
  });

  it('round trips F32 exactly and F16/BF16/F64 through their rounding', async () => {
    const out = join(dir, 'rt.safetensors');
    const r = rng(4);
    const values = Float32Array.from({ length: 257 }, () => (r() - 0.5) * 100);
    writeSafetensors(out, (['F32', 'F16', 'BF16', 'F64'] as const).map((dtype) => ({ name: dtype, dtype, shape: [257], data: values })));
    const all = await readAllF32(out);
    expect(Array.from(all.tensors.get('F32')!.data)).toEqual(Array.from(values));
    expect(Array.from(all.tensors.get('F64')!.data)).toEqual(Array.from(values));
    for (const d of ['F16', 'BF16']) {
      const got = all.tensors.get(d)!.data;
      const tol = d === 'F16' ? 2 ** -11 : 2 ** -8;
      got.forEach((v, i) => expect(Math.abs(v - values[i])).toBeLessThanOrEqual(Math.abs(values[i]) * tol + 1e-6));
    }
    const f = await readSafetensorsHeader(out);
    expect(Array.from(new Float64Array((await readTensorBytes(f, 'F64')).slice().buffer))).toEqual(Array.from(values));
  });

  it('streams tensors in chunks into planned offsets', async () => {
    const out = join(dir, 'streamed.safetensors');
    const a = Float32Array.from({ length: 1000 }, (_, i) => i);
    const b = Float64Array.from({ length: 10 }, (_, i) => -i);
    const plan = planSafetensors(out, [{ name: 'a', dtype: 'F32', shape: [10, 100] }, { name: 'b', dtype: 'F64', shape: [10] }]);
    expect(plan.tensors.get('b')!.offset).toBe(plan.dataStart); // F64 sorts first
    expect(plan.totalSize).toBe(plan.dataStart + 4000 + 80);
    const sink = openSafetensorsWriter(plan);
    const ab = bytesOf(a);
    for (let off = ab.byteLength; off > 0; off -= 1024) sink.write('a', ab.subarray(Math.max(0, off - 1024), off), Math.max(0, off - 1024));
    sink.write('b', bytesOf(b));
    expect(existsSync(out)).toBe(false);
    sink.commit();
    const all = await readAllF32(out);
    expect(Array.from(all.tensors.get('a')!.data)).toEqual(Array.from(a));
    expect(Array.from(all.tensors.get('b')!.data)).toEqual(Array.from(b));
  });

  it('refuses to commit an incompletely written tensor and leaves no file', () => {
    const out = join(dir, 'partial.safetensors');
    const before = listDir(dir);
    const sink = openSafetensorsWriter(planSafetensors(out, [{ name: 'a', dtype: 'F32', shape: [4] }]));
    sink.write('a', new Uint8Array(8));
    expect(() => sink.commit()).toThrow(/8 of 16 bytes/);
    expect(listDir(dir)).toEqual(before);
  });

  it('rejects bad write requests before creating a file', async () => {
    const out = join(dir, 'bad.safetensors');
    await expectInputError(() => writeSafetensors(out, [{ name: 'a', dtype: 'F32', shape: [2], data: new Float32Array(3) }]), 'needs 8');
    await expectInputError(() => planSafetensors(out, [{ name: 'a', dtype: 'F32', shape: [1] }, { name: 'a', dtype: 'F16', shape: [1] }]), 'duplicate');
    await expectInputError(() => planSafetensors(out, [{ name: '__metadata__', dtype: 'F32', shape: [1] }]), '__metadata__');
    await expectInputError(() => planSafetensors(out, [], { k: 1 as unknown as string }), '__metadata__');
    await expectInputError(() => writeSafetensors(out, [{ name: 'i', dtype: 'I64', shape: [1], data: new Float32Array(1) }]), 'unsupported dtype I64');
    expect(existsSync(out)).toBe(false);
  });
});

describe('rejections (one per check, on crafted bytes)', () => {
  const ok = (extra: Record<string, unknown> = {}) => JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, ...extra });

  it('accepts the well-formed baseline', async () => {
    const f = await readSafetensorsHeader(crafted('ok.st', ok(), 8));
    expect(f.tensors.get('a')!.offset).toBe(8 + ok().length);
  });

  it('file shorter than the length prefix', async () => {
    const p = join(dir, 'tiny.st');
    writeFileSync(p, Buffer.from([1, 2, 3]));
    await expectRejected(p, 'HeaderTooSmall', '3 bytes');
  });

  it('a path that is not a regular file', async () => {
    await expectInputError(readSafetensorsHeader(dir), 'not a regular file');
    await expectInputError(readSafetensorsHeader(join(dir, 'missing.st')), 'ENOENT');
  });

  it('header length past the end of the file', async () => {
    await expectRejected(crafted('past.st', ok(), 0, 5000n), 'InvalidHeaderLength', '5000');
  });

  it('header length over the 100 MB cap (even 2^64 - 1)', async () => {
    await expectRejected(crafted('huge.st', ok(), 8, 0xffffffffffffffffn), 'HeaderTooLarge', String(MAX_HEADER_SIZE));
    await expectRejected(crafted('huge2.st', ok(), 8, BigInt(MAX_HEADER_SIZE + 1)), 'HeaderTooLarge');
  });

  it('header that does not start with "{" (arrays, whitespace, empty)', async () => {
    await expectRejected(crafted('arr.st', '[1, 2]', 0), 'InvalidHeaderStart');
    await expectRejected(crafted('ws.st', ` ${ok()}`, 8), 'InvalidHeaderStart');
    await expectRejected(crafted('empty.st', '', 0), 'InvalidHeaderStart');
  });

  it('invalid UTF-8', async () => {
    await expectRejected(crafted('utf8.st', Buffer.concat([Buffer.from('{"\xff'), Buffer.from([0xff, 0xfe]), Buffer.from('":1}')]), 0), 'InvalidHeaderUtf8');
  });

  it('invalid JSON', async () => {
    await expectRejected(crafted('json.st', '{"a": {"dtype": "F32",', 0), 'InvalidHeaderJson');
  });

  it('duplicate tensor names (JSON.parse would keep the last)', async () => {
    const h = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\\u0061":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    await expectRejected(crafted('dup.st', h, 8), 'DuplicateKey', 'tensor name "a"');
  });

  it('bad __metadata__', async () => {
    await expectRejected(crafted('meta.st', ok({ __metadata__: { n: 1 } }), 8), 'InvalidMetadata', '"n"');
    await expectRejected(crafted('meta2.st', ok({ __metadata__: ['x'] }), 8), 'InvalidMetadata');
  });

  it('unknown dtype', async () => {
    await expectRejected(crafted('dt.st', JSON.stringify({ w: { dtype: 'F31', shape: [1], data_offsets: [0, 4] } }), 4), 'UnknownDtype', '"w"', 'F31');
  });

  it('malformed entries, shapes and offsets', async () => {
    await expectRejected(crafted('e.st', JSON.stringify({ w: 3 }), 0), 'InvalidTensorInfo', '"w"');
    await expectRejected(crafted('s.st', JSON.stringify({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), 4), 'InvalidShape', '"w"');
    await expectRejected(crafted('s2.st', JSON.stringify({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }), 4), 'InvalidShape');
    await expectRejected(crafted('o.st', JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }), 4), 'InvalidOffsets', '"w"');
    await expectRejected(crafted('o2.st', JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }), 4), 'InvalidOffsets');
  });

  it('shape overflow', async () => {
    const h = JSON.stringify({ w: { dtype: 'F64', shape: [2 ** 26, 2 ** 26, 2 ** 10], data_offsets: [0, 8] } });
    await expectRejected(crafted('ovf.st', h, 8), 'ValidationOverflow', '"w"');
  });

  it('shape x dtype size differs from the offsets', async () => {
    await expectRejected(crafted('len.st', JSON.stringify({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), 8), 'TensorInvalidInfo', '"w"', 'needs 12');
  });

  it('overlapping offsets', async () => {
    const h = JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } });
    await expectRejected(crafted('overlap.st', h, 12), 'Overlap', '"b"', '"a"');
  });

  it('gap between tensors and data not starting at 0', async () => {
    const h = JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } });
    await expectRejected(crafted('gap.st', h, 12), 'Gap', '"b"');
    await expectRejected(crafted('gap0.st', JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }), 8), 'Gap', '"a"');
  });

  it('offsets past the end of the buffer', async () => {
    await expectRejected(crafted('oor.st', ok(), 4), 'OffsetOutOfRange', '"a"');
  });

  it('trailing bytes after the last tensor (polyglot)', async () => {
    await expectRejected(crafted('trail.st', ok(), 9), 'MetadataIncompleteBuffer', '1 bytes');
  });

  it('reading an unsupported dtype as fp32 names dtype and tensor', async () => {
    const f = await readSafetensorsHeader(crafted('i64.st', JSON.stringify({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }), 8));
    await expectInputError(readTensor(f, 'ids'), 'unsupported dtype I64 for tensor "ids"');
    expect((await readTensorBytes(f, 'ids')).byteLength).toBe(8);
  });

  it('reads only the header of a huge sparse file', async () => {
    const p = crafted('sparse.st', JSON.stringify({ big: { dtype: 'F32', shape: [2 ** 31], data_offsets: [0, 2 ** 33] } }), 0);
    const headerEnd = readFileSync(p).byteLength;
    truncateSync(p, headerEnd + 2 ** 33);
    const f = await readSafetensorsHeader(p);
    expect(f.tensors.get('big')!.byteLength).toBe(2 ** 33);
  });

  it('never throws anything but InputError on mutated files (fuzz)', async () => {
    const ref = readFileSync(fixture('ref.safetensors'));
    const r = rng(5);
    const p = join(dir, 'fuzz.st');
    let accepted = 0;
    for (let i = 0; i < 600; i++) {
      const b = Buffer.from(ref);
      const n = 1 + Math.floor(r() * 4);
      for (let k = 0; k < n; k++) b[Math.floor(r() * Math.min(b.length, 8 + 400))] = Math.floor(r() * 256);
      writeFileSync(p, r() < 0.2 ? b.subarray(0, Math.floor(r() * b.length)) : b);
      try {
        await readSafetensorsHeader(p);
        accepted++;
      } catch (e) {
        expect(e).toBeInstanceOf(SafetensorsError);
        expect((e as Error).message).not.toContain('\n');
      }
    }
    expect(accepted).toBeLessThan(600);
  });
});
