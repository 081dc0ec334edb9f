// Wire-level ONNX copies with replaced initializers: bytes outside the rewritten tensors stay
// identical, the decoded graph is unchanged, and onnxruntime sees the new weights.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { decodeToF32, encodeFromF32 } from '../../src/io/dtype.js';
import { onnx, readOnnxInitializers, scanOnnx } from '../../src/io/onnx.js';
import { type OnnxCopyPlan, openOnnxCopyWriter, planOnnxCopy, writeOnnxWithInitializers } from '../../src/io/onnx-copy.js';
import { varintBytes } from '../../src/io/onnx-wire.js';
import { readLocation } from '../../src/io/tensor-io.js';
import { expectInputError, fixture, listDir, rng, tempDir } from './helpers.js';

const dir = tempDir();
const CONV = fixture('conv.onnx');

async function run(path: string, input: string, data: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  const out = await session.run({ [input]: new ort.Tensor('float32', data, dims) });
  return out[session.outputNames[0]].data as Float32Array;
}

async function initF32(path: string, name: string): Promise<Float32Array> {
  const init = (await readOnnxInitializers(path)).find((i) => i.name === name)!;
  return decodeToF32(await readLocation(init.location!), init.dtype as 'F32');
}

const r = rng(7);
const x = Float32Array.from({ length: 64 }, () => r() * 2 - 1);

/** Decoded model with initializer data cleared, for comparing everything else. */
function structure(path: string): unknown {
  const m = onnx.ModelProto.decode(readFileSync(path));
  for (const t of m.graph!.initializer!) {
    for (const k of ['rawData', 'floatData', 'int32Data', 'doubleData', 'int64Data', 'externalData', 'dataLocation', 'dataType'] as const) {
      delete (t as unknown as Record<string, unknown>)[k];
    }
  }
  return onnx.ModelProto.toObject(m, { longs: String, bytes: String });
}

describe('inline copies', () => {
  it('rewriting every initializer with its own values reproduces the exported file byte for byte', async () => {
    const dest = join(dir, 'same.onnx');
    const inits = await readOnnxInitializers(CONV);
    const repl = new Map(await Promise.all(inits.map(async (i) => [i.name, { data: await readLocation(i.location!) }] as const)));
    const plan = await writeOnnxWithInitializers(CONV, dest, repl);
    expect(plan.rewritten).toEqual(inits.map((i) => i.name));
    expect(Buffer.compare(readFileSync(dest), readFileSync(CONV))).toBe(0);
  });

  it('replaces one tensor, leaves every other byte and the decoded graph intact, and ORT sees it', async () => {
    const dest = join(dir, 'bias.onnx');
    const bias = await initF32(CONV, 'fc.bias');
    const plan = await writeOnnxWithInitializers(CONV, dest, new Map([['fc.bias', { data: bias.map((v) => v + 1) }]]));
    expect(plan.rewritten).toEqual(['fc.bias']);
    expect(plan.data).toBeNull();
    const src = readFileSync(CONV);
    const out = readFileSync(dest);
    expect(out.byteLength).toBe(plan.model.size);
    // Every copied range landed where the plan says, unchanged.
    let pos = 0;
    let copied = 0;
    for (const p of plan.model.parts) {
      const len = p.kind === 'bytes' ? p.bytes.byteLength : p.length;
      if (p.kind === 'copy') {
        expect(p.path).toBe(CONV);
        expect(Buffer.compare(out.subarray(pos, pos + len), src.subarray(p.offset, p.offset + len))).toBe(0);
        copied += len;
      }
      pos += len;
    }
    // ...and they cover the whole source except the graph's tag + length and fc.bias's raw_data field.
    const { framing, initializers } = await scanOnnx(CONV);
    const bi = initializers.findIndex((i) => i.name === 'fc.bias');
    const rawField = framing.initializers[bi].fields.find((f) => f.field === 9)!;
    const graphHead = framing.graph.dataStart - framing.graph.start;
    const initHead = framing.initializers[bi].field.dataStart - framing.initializers[bi].field.start;
    expect(copied).toBe(src.byteLength - graphHead - initHead - (rawField.end - rawField.start));
    expect(structure(dest)).toEqual(structure(CONV));
    expect(Array.from(await initF32(dest, 'fc.bias'))).toEqual(Array.from(bias.map((v) => v + 1)));

    const before = await run(CONV, 'x', x, [1, 1, 8, 8]);
    const after = await run(dest, 'x', x, [1, 1, 8, 8]);
    after.forEach((v, i) => expect(v - before[i]).toBeCloseTo(1, 5));
  });

  it('zeroed fc.weight makes the network output its bias', async () => {
    const dest = join(dir, 'zero.onnx');
    await writeOnnxWithInitializers(CONV, dest, new Map([['fc.weight', { data: new Float32Array(432) }]]));
    const y = await run(dest, 'x', x, [1, 1, 8, 8]);
    expect(Array.from(y)).toEqual(Array.from(await initF32(CONV, 'fc.bias')));
  });

  it('changes data_type with the dtype and keeps dims, name and other tensors', async () => {
    const dest = join(dir, 'f16.onnx');
    const w = await initF32(CONV, 'fc.weight');
    const plan = await writeOnnxWithInitializers(CONV, dest, new Map([['fc.weight', { data: w, dtype: 'F16' as const }]]));
    expect(plan.tensors.get('fc.weight')).toMatchObject({ dtype: 'F16', byteLength: 864 });
    const m = onnx.ModelProto.decode(readFileSync(dest));
    const t = m.graph!.initializer!.find((i) => i.name === 'fc.weight')!;
    expect(t.dataType).toBe(onnx.TensorProto.DataType.FLOAT16);
    expect(t.dims!.map(Number)).toEqual([3, 144]);
    expect(Buffer.compare(Buffer.from(t.rawData!), Buffer.from(encodeFromF32(w, 'F16')))).toBe(0);
    expect(Array.from(await initF32(dest, 'conv.weight'))).toEqual(Array.from(await initF32(CONV, 'conv.weight')));
  });

  it('turns int32_data f16 storage into raw_data that ORT reads', async () => {
    const src = fixture('typed_fields.onnx');
    const dest = join(dir, 'typed.onnx');
    const w = await initF32(src, 'W16');
    await writeOnnxWithInitializers(src, dest, new Map([['W16', { data: new Float32Array(6) }]]));
    const t = onnx.ModelProto.decode(readFileSync(dest)).graph!.initializer!.find((i) => i.name === 'W16')!;
    expect(t.int32Data).toHaveLength(0);
    expect(t.rawData).toHaveLength(12);
    expect(t.dataType).toBe(onnx.TensorProto.DataType.FLOAT16);
    expect(structure(dest)).toEqual(structure(src));
    const xs = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const before = await run(src, 'X', xs, [2, 3]);
    const after = await run(dest, 'X', xs, [2, 3]);
    before.forEach((v, i) => expect(v - after[i]).toBeCloseTo(w[i], 5));
  });
});

describe('external data', () => {
  const EXT = fixture('ext', 'external.onnx');
  const xe = Float32Array.from([0.5, -1, 2, 0.25]);
  const expectedY = async () => {
    const w = await initF32(EXT, 'W');
    const b = await initF32(EXT, 'B');
    return [0, 1, 2].map((j) => xe.reduce((s, v, i) => s + v * w[i * 3 + j], 0) + b[j]);
  };

  it('moves external tensors inline when nothing is replaced, and ORT runs the copy', async () => {
    const dest = join(dir, 'inlined.onnx');
    const plan = await planOnnxCopy(EXT, dest, { replace: [] });
    expect(plan.rewritten).toEqual(['W', 'B']);
    expect(plan.tensors.size).toBe(0);
    openOnnxCopyWriter(plan).commit();
    const inits = await readOnnxInitializers(dest);
    expect(inits.map((i) => i.storage)).toEqual(['raw_data', 'raw_data']);
    const y = await run(dest, 'X', xe, [1, 4]);
    (await expectedY()).forEach((v, i) => expect(y[i]).toBeCloseTo(v, 5));
  });

  it('writes <dest>.data with 4096-aligned offsets when asked', async () => {
    const dest = join(dir, 'out.onnx');
    const w = await initF32(EXT, 'W');
    const plan = await writeOnnxWithInitializers(EXT, dest, new Map([['W', { data: w.map((v) => 2 * v) }]]), { externalData: true });
    expect(plan.data!.path).toBe(`${dest}.data`);
    expect(plan.tensors.get('W')).toMatchObject({ file: `${dest}.data`, offset: 0 });
    const inits = await readOnnxInitializers(dest);
    for (const i of inits) {
      expect(i.storage).toBe('external');
      if (i.location!.kind !== 'file') throw new Error('external');
      expect(i.location!.path).toMatch(/out\.onnx\.data$/);
      expect(i.location!.offset % 4096).toBe(0);
    }
    expect(Array.from(await initF32(dest, 'W'))).toEqual(Array.from(w.map((v) => 2 * v)));
    expect(Array.from(await initF32(dest, 'B'))).toEqual(Array.from(await initF32(EXT, 'B')));
    const b = await initF32(EXT, 'B');
    const y = await run(dest, 'X', xe, [1, 4]);
    (await expectedY()).forEach((v, j) => expect(y[j]).toBeCloseTo(2 * (v - b[j]) + b[j], 5));
  });
});

describe('streaming and failures', () => {
  it('streams tensor chunks to planned offsets of the framed copy', async () => {
    const dest = join(dir, 'streamed.onnx');
    const plan: OnnxCopyPlan = await planOnnxCopy(CONV, dest, { dtypes: new Map([['fc.bias', 'F64' as const]]) });
    expect([...plan.tensors.keys()]).toEqual(['conv.weight', 'conv.bias', 'fc.weight', 'fc.bias']);
    const sink = openOnnxCopyWriter(plan);
    for (const t of plan.tensors.values()) {
      const values = await initF32(CONV, t.name);
      const bytes = t.dtype === 'F64' ? new Uint8Array(Float64Array.from(values).buffer) : new Uint8Array(values.slice().buffer);
      for (let at = 0; at < bytes.byteLength; at += 100) sink.write(t.name, bytes.subarray(at, at + 100), at);
    }
    sink.commit();
    const m = onnx.ModelProto.decode(readFileSync(dest));
    expect(m.graph!.initializer!.find((i) => i.name === 'fc.bias')!.dataType).toBe(onnx.TensorProto.DataType.DOUBLE);
    expect(Array.from(await initF32(dest, 'fc.weight'))).toEqual(Array.from(await initF32(CONV, 'fc.weight')));
  });

  it('leaves no file when a tensor was not written', async () => {
    const dest = join(dir, 'fail', 'never.onnx');
    mkdirSync(join(dir, 'fail'));
    const sink = openOnnxCopyWriter(await planOnnxCopy(CONV, dest, { externalData: true }));
    sink.write('fc.bias', new Uint8Array(12));
    expect(() => sink.commit()).toThrow(/conv\.weight/);
    expect(listDir(join(dir, 'fail'))).toEqual([]);
    expect(existsSync(dest)).toBe(false);
  });

  it('rejects replacements it cannot honour', async () => {
    const dest = join(dir, 'bad.onnx');
    await expectInputError(planOnnxCopy(CONV, dest, { replace: ['nope'] }), 'no initializer "nope"');
    await expectInputError(planOnnxCopy(fixture('typed_fields.onnx'), dest, { replace: ['label'] }), '"label"', 'STRING');
    await expectInputError(planOnnxCopy(fixture('typed_fields.onnx'), dest, { dtypes: new Map([['shape', 'F16' as const]]) }), 'I64 to F16');
    await expectInputError(writeOnnxWithInitializers(CONV, dest, new Map([['fc.bias', { data: new Float32Array(4) }]])), 'needs 12');
    expect(existsSync(dest)).toBe(false);
  });

  it('refuses to move external data it cannot size', async () => {
    const sub = join(dir, 'c128');
    mkdirSync(sub);
    copyFileSync(fixture('ext', 'external.bin'), join(sub, 'external.bin'));
    const model = onnx.ModelProto.decode(readFileSync(fixture('ext', 'external.onnx')));
    model.graph!.initializer![1].dataType = onnx.TensorProto.DataType.COMPLEX128;
    writeFileSync(join(sub, 'm.onnx'), onnx.ModelProto.encode(model).finish());
    const inits = await readOnnxInitializers(join(sub, 'm.onnx'));
    expect(inits[1]).toMatchObject({ storage: 'external', location: null });
    await expectInputError(planOnnxCopy(join(sub, 'm.onnx'), join(sub, 'out.onnx')), 'external initializer "B" cannot be relocated', 'COMPLEX128');
  });

  it('varints encode like protobuf', () => {
    expect(Array.from(varintBytes(300))).toEqual([0xac, 0x02]);
    expect(Array.from(varintBytes(2 ** 35))).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
  });
});
