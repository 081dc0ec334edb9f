// Reads the safetensors fixtures written by scripts/gen_graph_fixtures.py and
// scripts/gen_import_fixtures.py (F32 and I64 only).
import { readFileSync } from 'node:fs';

export interface Fixture {
  f32(name: string): Float32Array;
  i64(name: string): BigInt64Array;
  shape(name: string): number[];
  /** Tensor names in file order. */
  names: string[];
  meta: Record<string, string>;
}

export function readFixture(file: string, area = 'graph'): Fixture {
  const buf = readFileSync(new URL(`../fixtures/${area}/${file}`, import.meta.url));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & { __metadata__?: Record<string, string> };
  const { __metadata__: meta = {}, ...entries } = header;
  const bytes = (name: string, dtype: string) => {
    const e = entries[name];
    if (!e || e.dtype !== dtype) throw new Error(`${file}: no ${dtype} tensor ${name}`);
    return new Uint8Array(buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1])).buffer; // aligned copy
  };
  const names = Object.keys(entries).sort((a, b) => entries[a].data_offsets[0] - entries[b].data_offsets[0]);
  return {
    f32: (name) => new Float32Array(bytes(name, 'F32')),
    i64: (name) => new BigInt64Array(bytes(name, 'I64')),
    shape: (name) => entries[name].shape,
    names,
    meta,
  };
}
