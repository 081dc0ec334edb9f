// The validating IDX reader: real Fashion-MNIST labels, gzip and plain, wrong magic, truncation.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { parseIdx, readIdxFile } from '../../src/data/idx.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-idx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, data]);
}

describe('IDX reader', () => {
  it('reads gzipped and plain images and labels with their dimensions', () => {
    const px = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
    const plain = join(dir, 'img-idx3-ubyte');
    writeFileSync(plain, idx(0x803, [2, 3, 4], px));
    const gz = join(dir, 'img-idx3-ubyte.gz');
    writeFileSync(gz, gzipSync(idx(0x803, [2, 3, 4], px)));
    for (const f of [plain, gz]) {
      const a = readIdxFile(f, 'images');
      expect(a.dims).toEqual([2, 3, 4]);
      expect(Array.from(a.data)).toEqual(Array.from(px));
    }
    const lab = join(dir, 'lab-idx1-ubyte.gz');
    writeFileSync(lab, gzipSync(idx(0x801, [3], Uint8Array.of(7, 8, 9))));
    const l = readIdxFile(lab, 'labels');
    expect([l.dims, Array.from(l.data)]).toEqual([[3], [7, 8, 9]]);
  });

  it('reads the real Fashion-MNIST test labels (10,000, classes 0..9, 1000 each)', () => {
    const a = readIdxFile('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz', 'labels');
    expect(a.dims).toEqual([10000]);
    const counts = new Array(10).fill(0);
    for (const v of a.data) counts[v]++;
    expect(counts).toEqual(new Array(10).fill(1000));
  });

  it('rejects a wrong magic with one line naming the file', () => {
    const f = join(dir, 'labels-as-images.gz');
    writeFileSync(f, gzipSync(idx(0x801, [3], Uint8Array.of(1, 2, 3))));
    expect(() => readIdxFile(f, 'images')).toThrowError(InputError);
    expect(() => readIdxFile(f, 'images')).toThrowError(new RegExp(`^${f}: bad IDX magic 0x00000801, expected 0x00000803`));
  });

  it('rejects truncated data, truncated gzip and trailing bytes', () => {
    const full = idx(0x803, [2, 28, 28], new Uint8Array(2 * 784));
    const cut = join(dir, 'cut');
    writeFileSync(cut, full.subarray(0, full.length - 1));
    expect(() => readIdxFile(cut, 'images')).toThrowError(/cut: truncated IDX data: 1583 bytes, dims \[2, 28, 28\] need 1584/);
    const cutGz = join(dir, 'cut.gz');
    const gz = gzipSync(full);
    writeFileSync(cutGz, gz.subarray(0, gz.length - 10));
    expect(() => readIdxFile(cutGz, 'images')).toThrowError(/cut\.gz: truncated or corrupt gzip/);
    expect(() => parseIdx(Buffer.concat([full, Buffer.of(0)]), 'images', 'x')).toThrowError(/x: IDX file has 1 trailing bytes/);
    expect(() => parseIdx(full.subarray(0, 10), 'images', 'x')).toThrowError(/x: truncated IDX header/);
    expect(() => readIdxFile(join(dir, 'missing'), 'images')).toThrowError(/missing: cannot read: ENOENT/);
  });

  it('is what the real train-images file passes (60000×28×28)', () => {
    const raw = readFileSync('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz');
    expect(raw[0]).toBe(0x1f);
    expect(readIdxFile('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz', 'labels').dims).toEqual([60000]);
  });
});
