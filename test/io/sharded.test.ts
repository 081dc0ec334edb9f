// Sharded safetensors: reading the Hugging Face layout with its path and consistency checks, and
// planning/writing shards + index.
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeToF32, encodeFromF32 } from '../../src/io/dtype.js';
import { readAllF32, writeSafetensors } from '../../src/io/safetensors.js';
import { openShardedWriter, planShardedSafetensors, readShardedIndex, writeShardedSafetensors } from '../../src/io/sharded.js';
import { expectInputError, fixture, tempDir } from './helpers.js';

const root = tempDir();
const INDEX = 'model.safetensors.index.json';
const S1 = 'model-00001-of-00002.safetensors';
const S2 = 'model-00002-of-00002.safetensors';
let n = 0;

/** A copy of the fixture checkpoint in a fresh folder, with its index edited by `edit`. */
function variant(edit: (index: { metadata: Record<string, unknown>; weight_map: Record<string, string> }) => void): string {
  const dir = join(root, `v${n++}`);
  cpSync(fixture('sharded'), dir, { recursive: true });
  const index = JSON.parse(readFileSync(join(dir, INDEX), 'utf8'));
  edit(index);
  writeFileSync(join(dir, INDEX), JSON.stringify(index));
  return join(dir, INDEX);
}

describe('reading', () => {
  it('exposes the union of the shards with per-tensor shard and absolute offset', async () => {
    const ck = await readShardedIndex(fixture('sharded', INDEX));
    expect(ck.shards.map((s) => s.path.split('/').pop())).toEqual([S1, S2]);
    expect([...ck.tensors.keys()].sort()).toEqual(['a.bias', 'a.weight', 'b.weight']);
    expect(ck.declaredTotalSize).toBe(4 * 4 + 2 * 4 + 3 * 2);
    const b = ck.tensors.get('b.weight')!;
    expect(b.shard.path).toMatch(new RegExp(`${S2}$`));
    const bytes = readFileSync(b.shard.path).subarray(b.tensor.offset, b.tensor.offset + b.tensor.byteLength);
    const direct = await readAllF32(b.shard.path);
    expect(Array.from(decodeToF32(bytes, 'F16'))).toEqual(Array.from(direct.tensors.get('b.weight')!.data));
  });

  it('rejects a missing shard', async () => {
    const p = variant((ix) => (ix.weight_map['b.weight'] = 'model-00009-of-00009.safetensors'));
    await expectInputError(readShardedIndex(p), 'model-00009-of-00009.safetensors', 'not found');
  });

  it('rejects shard paths escaping the index folder', async () => {
    await expectInputError(readShardedIndex(variant((ix) => (ix.weight_map['b.weight'] = `../v0/${S2}`))), '".." component');
    await expectInputError(readShardedIndex(variant((ix) => (ix.weight_map['b.weight'] = fixture('sharded', S2)))), 'not a relative path');
    const p = variant((ix) => (ix.weight_map['b.weight'] = 'link.safetensors'));
    symlinkSync(fixture('sharded', S2), join(p, '..', 'link.safetensors'));
    await expectInputError(readShardedIndex(p), 'resolves outside');
  });

  it('accepts a symlink that stays inside the folder', async () => {
    const p = variant((ix) => (ix.weight_map['b.weight'] = 'link.safetensors'));
    symlinkSync(S2, join(p, '..', 'link.safetensors'));
    const ck = await readShardedIndex(p);
    expect(ck.tensors.get('b.weight')!.shard.path).toMatch(new RegExp(`${S2}$`));
  });

  it('rejects a tensor held by two shards, or listed twice', async () => {
    const p = variant(() => {});
    writeSafetensors(join(p, '..', S2), [
      { name: 'b.weight', dtype: 'F16', shape: [3], data: new Float32Array(3) },
      { name: 'a.bias', dtype: 'F32', shape: [2], data: new Float32Array(2) },
    ]);
    await expectInputError(readShardedIndex(p), 'tensor "a.bias" is in two shards');
    const dup = variant(() => {});
    const text = readFileSync(dup, 'utf8').replace('"weight_map":{', `"weight_map":{"a.bias":"${S2}",`);
    writeFileSync(dup, text);
    await expectInputError(readShardedIndex(dup), 'duplicate key "a.bias" in "weight_map"');
  });

  it('rejects weight_map entries its shard lacks, and shard tensors weight_map lacks', async () => {
    await expectInputError(readShardedIndex(variant((ix) => (ix.weight_map['c.weight'] = S1))), '"c.weight" is mapped to', 'does not hold it');
    await expectInputError(readShardedIndex(variant((ix) => (ix.weight_map['a.bias'] = S2))), '"a.bias" is mapped to', `found in "${S1}"`);
    await expectInputError(readShardedIndex(variant((ix) => delete ix.weight_map['a.bias'])), 'does not list');
  });

  it('rejects malformed index files', async () => {
    await expectInputError(readShardedIndex(variant((ix) => delete (ix as Record<string, unknown>).weight_map)), 'weight_map');
    await expectInputError(readShardedIndex(variant((ix) => (ix.metadata.total_size = -1))), 'total_size');
    const p = variant(() => {});
    writeFileSync(p, '{"weight_map": {');
    await expectInputError(readShardedIndex(p), 'invalid JSON');
  });
});

describe('writing', () => {
  const tensors = [
    { name: 'x.a', dtype: 'F32' as const, shape: [10], data: Float32Array.from({ length: 10 }, (_, i) => i) },
    { name: 'x.b', dtype: 'F16' as const, shape: [8], data: Float32Array.from({ length: 8 }, (_, i) => -i) },
    { name: 'x.c', dtype: 'F32' as const, shape: [30], data: Float32Array.from({ length: 30 }, (_, i) => i / 4) },
    { name: 'x.d', dtype: 'BF16' as const, shape: [4], data: Float32Array.from([1, 2, 3, 4]) },
  ];

  it('splits like huggingface_hub: fill up to the limit, oversize tensors alone', () => {
    const plan = planShardedSafetensors('/out', tensors, 60);
    expect(plan.shards.map((s) => [...s.tensors.keys()])).toEqual([['x.a', 'x.b'], ['x.c'], ['x.d']]);
    expect(plan.shards.map((s) => s.dest)).toEqual([1, 2, 3].map((i) => `/out/model-0000${i}-of-00003.safetensors`));
    expect(plan.index!.metadata.total_size).toBe(40 + 16 + 120 + 8);
    expect(plan.indexPath).toBe('/out/model.safetensors.index.json');
  });

  it('writes shards and an index that read back as the same checkpoint', async () => {
    const dir = join(root, 'written');
    mkdirSync(dir);
    writeShardedSafetensors(dir, tensors, 60, { format: 'pt' });
    const ck = await readShardedIndex(join(dir, INDEX));
    expect(ck.declaredTotalSize).toBe(184);
    for (const t of tensors) {
      const st = ck.tensors.get(t.name)!;
      const back = (await readAllF32(st.shard.path)).tensors.get(t.name)!;
      expect(Array.from(back.data)).toEqual(Array.from(t.data));
    }
    expect(JSON.parse(readFileSync(join(dir, INDEX), 'utf8')).weight_map['x.c']).toBe('model-00002-of-00003.safetensors');
  });

  it('lets another writer fill the shard temporaries, then writes the index last on commit', async () => {
    const dir = join(root, 'external-writer');
    mkdirSync(dir);
    const plan = planShardedSafetensors(dir, tensors, 60);
    const sink = openShardedWriter(plan);
    expect(sink.outputs.map((o) => o.dest)).toEqual(plan.shards.map((s) => s.dest));
    for (const t of tensors) {
      const p = sink.tensors.get(t.name)!;
      const out = sink.outputs.find((o) => o.dest === p.file)!;
      const fd = openSync(out.tmpPath, 'r+');
      writeSync(fd, encodeFromF32(t.data, t.dtype), 0, p.byteLength, p.offset); // as the native engine would
      closeSync(fd);
      sink.markWritten(t.name);
    }
    expect(existsSync(join(dir, INDEX))).toBe(false);
    expect(() => sink.markWritten('nope')).toThrow(/no planned tensor/);
    sink.commit();
    const ck = await readShardedIndex(join(dir, INDEX));
    const back = (await readAllF32(ck.tensors.get('x.d')!.shard.path)).tensors.get('x.d')!;
    expect(Array.from(back.data)).toEqual([1, 2, 3, 4]);
  });

  it('writes a single model.safetensors with no index when everything fits', () => {
    const dir = join(root, 'single');
    mkdirSync(dir);
    const plan = writeShardedSafetensors(dir, tensors, 1 << 20);
    expect(plan.indexPath).toBeNull();
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(true);
    expect(existsSync(join(dir, INDEX))).toBe(false);
  });
});
