// The averaging pipeline end to end: headers validated up front, fp32 accumulation into each
// output dtype, ONNX copies, atomic output, and every bad input refused with nothing written.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { f32ToBf16Bits, f32ToF16Bits, f16BitsToF32 } from '../../src/io/dtype.js';
import { readOnnxInitializers } from '../../src/io/onnx.js';
import { openCheckpoint, readCheckpointTensorF32 } from '../../src/io/checkpoint.js';
import { writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { writeShardedSafetensors } from '../../src/io/sharded.js';
import { averageCheckpoints } from '../../src/merge/average.js';
import { writeOnnxWithInitializers } from '../../src/io/onnx-copy.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'rt-avg-'));

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

function model(dir: string, name: string, seed: number, over: Partial<Record<string, Partial<TensorToWrite>>> = {}): string {
  const path = join(dir, name);
  const tensors: TensorToWrite[] = [
    { name: 'conv.weight', dtype: 'F32', shape: [4, 3, 3, 3], data: rand(108, seed) },
    { name: 'conv.bias', dtype: 'F32', shape: [4], data: rand(4, seed + 1) },
    { name: 'fc.weight', dtype: 'F32', shape: [10, 4], data: rand(40, seed + 2) },
    { name: 'steps', dtype: 'I64', shape: [1], data: new Uint8Array(new BigInt64Array([7n]).buffer) },
  ].map((t) => ({ ...t, ...(over[t.name] ?? {}) }) as TensorToWrite);
  writeSafetensors(path, tensors, { origin: name });
  return path;
}

/**
 * The exact (float64) weighted sum vs the engine's fp32 accumulation: each of the N fp32 roundings
 * errs by at most half an ulp of the running sum, bounded by Σ|λᵢxᵢ|, so allow N ulps of that.
 */
function expectClose(got: Float32Array, want: { sum: Float64Array; abs: Float64Array; n: number }): void {
  expect(got.length).toBe(want.sum.length);
  for (let i = 0; i < got.length; i++) {
    const tol = want.n * want.abs[i] * 2 ** -23 + 1e-30;
    if (Math.abs(got[i] - want.sum[i]) > tol) throw new Error(`element ${i}: ${got[i]} vs ${want.sum[i]}`);
  }
}

async function tensorsOf(path: string): Promise<Map<string, Float32Array>> {
  const ck = await openCheckpoint(path);
  const out = new Map<string, Float32Array>();
  for (const t of ck.tensors) if (t.dtype !== 'I64') out.set(t.name, await readCheckpointTensorF32(ck, t.name));
  return out;
}

function weighted(inputs: Map<string, Float32Array>[], weights: number[], name: string) {
  const len = inputs[0].get(name)!.length;
  const sum = new Float64Array(len);
  const abs = new Float64Array(len);
  inputs.forEach((m, k) =>
    m.get(name)!.forEach((v, i) => {
      sum[i] += weights[k] * v;
      abs[i] += Math.abs(Math.fround(weights[k]) * v);
    }),
  );
  return { sum, abs, n: inputs.length };
}

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.includes('.tmp-'));
}

describe('averageCheckpoints (safetensors)', () => {
  it('uniform average of three checkpoints, non-float tensors copied from the first', async () => {
    const dir = tmp();
    const paths = [1, 2, 3].map((s) => model(dir, `m${s}.safetensors`, s * 100));
    const out = join(dir, 'avg.safetensors');
    const summary = await averageCheckpoints({ inputs: paths, output: out });
    expect(summary.averaged).toBe(3);
    expect(summary.copiedFromFirst).toEqual(['steps']);
    const ins = await Promise.all(paths.map(tensorsOf));
    const got = await tensorsOf(out);
    for (const name of ['conv.weight', 'conv.bias', 'fc.weight']) expectClose(got.get(name)!, weighted(ins, [1 / 3, 1 / 3, 1 / 3], name));
    const ck = await openCheckpoint(out);
    expect(ck.metadata).toEqual({ origin: 'm1.safetensors' });
    expect(ck.byName.get('steps')!.dtype).toBe('I64');
    expect(leftovers(dir)).toEqual([]);
  });

  it('user weights are normalised unless --no-normalize', async () => {
    const dir = tmp();
    const paths = [1, 2].map((s) => model(dir, `m${s}.safetensors`, s));
    const ins = await Promise.all(paths.map(tensorsOf));
    await averageCheckpoints({ inputs: paths, output: join(dir, 'n.safetensors'), weights: [3, 1] });
    expectClose((await tensorsOf(join(dir, 'n.safetensors'))).get('fc.weight')!, weighted(ins, [0.75, 0.25], 'fc.weight'));
    await averageCheckpoints({ inputs: paths, output: join(dir, 'r.safetensors'), weights: [3, 1], normalize: false });
    expectClose((await tensorsOf(join(dir, 'r.safetensors'))).get('fc.weight')!, weighted(ins, [3, 1], 'fc.weight'));
  });

  it('bf16 and f16 inputs accumulate in fp32; the output dtype is selectable', async () => {
    const dir = tmp();
    const toBf16 = (a: Float32Array) => new Uint8Array(new Uint16Array(Array.from(a, f32ToBf16Bits)).buffer);
    const paths = [1, 2, 3, 4].map((s) =>
      model(dir, `b${s}.safetensors`, s, { 'fc.weight': { dtype: 'BF16', data: toBf16(rand(40, s)) } }),
    );
    const ins = await Promise.all(paths.map(tensorsOf));
    await averageCheckpoints({ inputs: paths, output: join(dir, 'keep.safetensors') });
    const kept = await openCheckpoint(join(dir, 'keep.safetensors'));
    expect(kept.byName.get('fc.weight')!.dtype).toBe('BF16');
    expect(kept.byName.get('conv.bias')!.dtype).toBe('F32');
    const exact = weighted(ins, [0.25, 0.25, 0.25, 0.25], 'fc.weight').sum;
    const bf = await readCheckpointTensorF32(kept, 'fc.weight');
    // one bf16 rounding of the fp32 sum: within one bf16 ulp (2^-8 relative) of the exact value
    bf.forEach((v, i) => expect(Math.abs(v - exact[i])).toBeLessThanOrEqual(Math.abs(exact[i]) * 2 ** -8 + 1e-30));
    await averageCheckpoints({ inputs: paths, output: join(dir, 'h.safetensors'), dtype: 'f16' });
    const h = await openCheckpoint(join(dir, 'h.safetensors'));
    expect(h.tensors.filter((t) => t.dtype !== 'I64').every((t) => t.dtype === 'F16')).toBe(true);
    const hv = await readCheckpointTensorF32(h, 'fc.weight');
    hv.forEach((v) => expect(v).toBe(f16BitsToF32(f32ToF16Bits(v))));
    hv.forEach((v, i) => expect(Math.abs(v - exact[i])).toBeLessThanOrEqual(Math.abs(exact[i]) * 2 ** -10 + 2 ** -24));
  });

  it('results do not depend on threads or chunk size', async () => {
    const dir = tmp();
    const paths = [1, 2, 3].map((s) => model(dir, `m${s}.safetensors`, s));
    await averageCheckpoints({ inputs: paths, output: join(dir, 'a.safetensors'), threads: 1, chunkBytes: 64 });
    await averageCheckpoints({ inputs: paths, output: join(dir, 'b.safetensors'), threads: 2 });
    expect(readFileSync(join(dir, 'a.safetensors')).equals(readFileSync(join(dir, 'b.safetensors')))).toBe(true);
  });

  it('sharded inputs and sharded output', async () => {
    const dir = tmp();
    const shardDirs = [1, 2].map((s) => {
      const d = join(dir, `s${s}`);
      mkdirSync(d);
      writeShardedSafetensors(
        d,
        [
          { name: 'a', dtype: 'F32', shape: [64], data: rand(64, s) },
          { name: 'b', dtype: 'F32', shape: [64], data: rand(64, s + 10) },
        ],
        256,
      );
      return join(d, 'model.safetensors.index.json');
    });
    const outDir = join(dir, 'out');
    mkdirSync(outDir);
    await averageCheckpoints({ inputs: shardDirs, output: join(outDir, 'model.safetensors.index.json'), maxShardBytes: 256 });
    expect(readdirSync(outDir).sort()).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
    const ins = await Promise.all(shardDirs.map(tensorsOf));
    const got = await tensorsOf(join(outDir, 'model.safetensors.index.json'));
    expectClose(got.get('b')!, weighted(ins, [0.5, 0.5], 'b'));
  });
});

describe('averageCheckpoints (ONNX)', () => {
  const fixture = join(__dirname, '..', 'fixtures', 'io', 'conv.onnx');

  it('averages initializers into a copy of the first model', async () => {
    const dir = tmp();
    const a = join(dir, 'a.onnx');
    copyFileSync(fixture, a);
    const inits = await readOnnxInitializers(a);
    const b = join(dir, 'b.onnx');
    const replaced = new Map<string, { data: Float32Array }>();
    for (const t of inits) if (t.dtype === 'F32') replaced.set(t.name, { data: rand(t.numel, t.numel) });
    await writeOnnxWithInitializers(a, b, replaced);
    const out = join(dir, 'avg.onnx');
    await averageCheckpoints({ inputs: [a, b], output: out, weights: [1, 3] });
    const ins = await Promise.all([a, b].map(tensorsOf));
    const got = await tensorsOf(out);
    for (const name of replaced.keys()) expectClose(got.get(name)!, weighted(ins, [0.25, 0.75], name));
  });

  it('refuses a dtype change (the graph would not type-check)', async () => {
    const dir = tmp();
    const a = join(dir, 'a.onnx');
    copyFileSync(fixture, a);
    await expect(averageCheckpoints({ inputs: [a, a], output: join(dir, 'o.onnx'), dtype: 'bf16' })).rejects.toThrow(/--dtype/);
  });
});

describe('bad input: one clear error, nothing written', () => {
  async function refused(run: () => Promise<unknown>, pattern: RegExp, dir: string): Promise<void> {
    const before = readdirSync(dir).sort();
    const err = await run().then(
      () => null,
      (e) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).not.toContain('\n');
    expect(readdirSync(dir).sort()).toEqual(before);
  }

  it('empty input list', async () => {
    const dir = tmp();
    await refused(() => averageCheckpoints({ inputs: [], output: join(dir, 'o.safetensors') }), /no input/, dir);
  });

  it('output equal to an input', async () => {
    const dir = tmp();
    const a = model(dir, 'a.safetensors', 1);
    const b = model(dir, 'b.safetensors', 2);
    await refused(() => averageCheckpoints({ inputs: [a, b], output: b }), /output is also an input/, dir);
  });

  it('every mismatch reported at once: shape, dtype, missing and extra tensors', async () => {
    const dir = tmp();
    const a = model(dir, 'a.safetensors', 1);
    const b = model(dir, 'b.safetensors', 2, { 'conv.bias': { shape: [2, 2] }, 'fc.weight': { dtype: 'F64', data: new Float64Array(40) } });
    const c = join(dir, 'c.safetensors');
    writeSafetensors(c, [
      { name: 'conv.weight', dtype: 'F32', shape: [4, 3, 3, 3], data: rand(108, 3) },
      { name: 'extra', dtype: 'F32', shape: [1], data: new Float32Array(1) },
    ]);
    const err = await averageCheckpoints({ inputs: [a, b, c], output: join(dir, 'o.safetensors') }).catch((e) => e as Error);
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/b\.safetensors: tensor "conv\.bias" has shape \[2, 2\]/);
    expect(msg).toMatch(/b\.safetensors: tensor "fc\.weight" is F64/);
    expect(msg).toMatch(/c\.safetensors: missing 3 tensors/);
    expect(msg).toMatch(/c\.safetensors: has tensor "extra"/);
    expect(existsSync(join(dir, 'o.safetensors'))).toBe(false);
  });

  it('non-finite values name the file and tensor unless allowed', async () => {
    const dir = tmp();
    const bad = rand(40, 9);
    bad[17] = Number.NaN;
    const a = model(dir, 'a.safetensors', 1);
    const b = model(dir, 'b.safetensors', 2, { 'fc.weight': { data: bad } });
    await refused(() => averageCheckpoints({ inputs: [a, b], output: join(dir, 'o.safetensors') }), /b\.safetensors: tensor "fc\.weight" has non-finite/, dir);
    const s = await averageCheckpoints({ inputs: [a, b], output: join(dir, 'o.safetensors'), allowNonfinite: true });
    expect(s.nonfinite).toEqual({ input: b, tensor: 'fc.weight' });
    expect(Number.isNaN((await tensorsOf(join(dir, 'o.safetensors'))).get('fc.weight')![17])).toBe(true);
  });

  it('truncated input and wrong weight count', async () => {
    const dir = tmp();
    const a = model(dir, 'a.safetensors', 1);
    const t = join(dir, 't.safetensors');
    const bytes = readFileSync(a);
    writeFileSync(t, bytes.subarray(0, bytes.length - 5));
    await refused(() => averageCheckpoints({ inputs: [a, t], output: join(dir, 'o.safetensors') }), /t\.safetensors/, dir);
    await refused(() => averageCheckpoints({ inputs: [a, a], output: join(dir, 'o.safetensors'), weights: [1] }), /--weights: 1 weights for 2 inputs/, dir);
    await refused(() => averageCheckpoints({ inputs: [a, a], output: join(dir, 'o.safetensors'), weights: [1, -1] }), /sum to zero/, dir);
  });

  it('mixing safetensors and ONNX inputs, or an output of the other kind', async () => {
    const dir = tmp();
    const a = model(dir, 'a.safetensors', 1);
    const o = join(dir, 'm.onnx');
    copyFileSync(join(__dirname, '..', 'fixtures', 'io', 'conv.onnx'), o);
    await refused(() => averageCheckpoints({ inputs: [a, o], output: join(dir, 'x.safetensors') }), /inputs must all be one kind/, dir);
    await refused(() => averageCheckpoints({ inputs: [a, a], output: join(dir, 'x.onnx') }), /output must be/, dir);
  });
});
