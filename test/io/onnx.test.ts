// ONNX initializers: offsets checked against onnx-proto's own decoding, typed-field storage against
// values computed in Python, external data with its containment rules, and garbage inputs.
import { readFileSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeToF32 } from '../../src/io/dtype.js';
import { loadOnnxModel, onnx, readOnnxInitializers } from '../../src/io/onnx.js';
import { readLocation } from '../../src/io/tensor-io.js';
import { bitsOf, expectInputError, fixture, tempDir } from './helpers.js';

const dir = tempDir();

/** External-data model variants: same graph, initializer W's external_data edited. */
function externalVariant(name: string, edit: (kv: Map<string, string>) => void): string {
  const model = onnx.ModelProto.decode(readFileSync(fixture('ext', 'external.onnx')));
  const w = model.graph!.initializer!.find((t) => t.name === 'W')!;
  const kv = new Map(w.externalData!.map((e) => [e.key!, e.value!]));
  edit(kv);
  w.externalData = [...kv].map(([key, value]) => ({ key, value }));
  const path = join(dir, name);
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
  return path;
}

describe('initializers', () => {
  it('raw_data offsets point at the bytes onnx-proto decodes (torch.onnx.export model)', async () => {
    const path = fixture('conv.onnx');
    const inits = await readOnnxInitializers(path);
    const decoded = onnx.ModelProto.decode(readFileSync(path)).graph!.initializer!;
    expect(inits.map((i) => i.name)).toEqual(decoded.map((t) => t.name));
    const file = readFileSync(path);
    for (const [i, t] of decoded.entries()) {
      const init = inits[i];
      expect(init.storage).toBe('raw_data');
      expect(init.dtype).toBe('F32');
      expect(init.dims).toEqual(t.dims!.map(Number));
      const loc = init.location!;
      if (loc.kind !== 'file') throw new Error('raw_data should be a file range');
      expect(Buffer.compare(file.subarray(loc.offset, loc.offset + loc.byteLength), Buffer.from(t.rawData!))).toBe(0);
    }
  });

  it('reads int32_data f16/bf16, packed double/float data, int64_data, and flags STRING', async () => {
    const expected = JSON.parse(readFileSync(fixture('typed_fields.expected.json'), 'utf8')) as Record<string, number[]>;
    const inits = new Map((await readOnnxInitializers(fixture('typed_fields.onnx'))).map((i) => [i.name, i]));
    const f32 = async (name: string) => {
      const i = inits.get(name)!;
      return bitsOf(decodeToF32(await readLocation(i.location!), i.dtype as 'F32'));
    };
    expect(inits.get('W16')).toMatchObject({ dtype: 'F16', storage: 'int32_data', dims: [2, 3], unsupported: null });
    expect(inits.get('W16')!.location!.kind).toBe('memory');
    expect(await f32('W16')).toEqual(expected.W16);
    expect(inits.get('Bbf')).toMatchObject({ dtype: 'BF16', storage: 'int32_data' });
    expect(await f32('Bbf')).toEqual(expected.Bbf);
    expect(inits.get('D')).toMatchObject({ dtype: 'F64', storage: 'double_data', location: { kind: 'file' } });
    expect(await f32('D')).toEqual(expected.D);
    expect(inits.get('F')).toMatchObject({ dtype: 'F32', storage: 'float_data', location: { kind: 'file' } });
    expect(await f32('F')).toEqual(expected.F);
    const shape = inits.get('shape')!;
    expect(shape).toMatchObject({ dtype: 'I64', storage: 'int64_data' });
    expect(shape.unsupported).toMatch(/unsupported dtype I64/);
    expect(Array.from(new BigInt64Array((await readLocation(shape.location!)).slice().buffer))).toEqual([2n, 3n]);
    expect(inits.get('label')).toMatchObject({ dtype: null, location: null });
    expect(inits.get('label')!.unsupported).toMatch(/STRING/);
  });
});

describe('external data', () => {
  it('resolves locations beside the model and reads the values', async () => {
    const expected = JSON.parse(readFileSync(fixture('ext', 'external.expected.json'), 'utf8')) as Record<string, number[]>;
    const inits = await readOnnxInitializers(fixture('ext', 'external.onnx'));
    for (const i of inits) {
      expect(i.storage).toBe('external');
      expect(i.location).toMatchObject({ kind: 'file', path: expect.stringMatching(/ext\/external\.bin$/) });
      expect(bitsOf(decodeToF32(await readLocation(i.location!), 'F32'))).toEqual(expected[i.name]);
    }
  });

  it('refuses a location that escapes the model folder with ".."', async () => {
    await expectInputError(readOnnxInitializers(fixture('ext', 'evil.onnx')), 'evil.onnx', '"../outside.bin"', '".." component');
  });

  it('refuses absolute locations and symlinks resolving outside', async () => {
    await expectInputError(readOnnxInitializers(externalVariant('abs.onnx', (kv) => kv.set('location', fixture('outside.bin')))), 'not a relative path');
    symlinkSync(fixture('outside.bin'), join(dir, 'link.bin'));
    await expectInputError(readOnnxInitializers(externalVariant('link.onnx', (kv) => kv.set('location', 'link.bin'))), '"link.bin"', 'resolves outside');
  });

  it('checks offset and length against the data file and the dims', async () => {
    copyFileSync(fixture('ext', 'external.bin'), join(dir, 'external.bin'));
    const ok = await readOnnxInitializers(externalVariant('ok.onnx', () => {}));
    expect(ok[0].location).toMatchObject({ offset: 0, byteLength: 48 });
    await expectInputError(readOnnxInitializers(externalVariant('past.onnx', (kv) => kv.set('offset', '40'))), 'initializer "W"', 'runs past the end');
    await expectInputError(readOnnxInitializers(externalVariant('len.onnx', (kv) => kv.set('length', '44'))), 'length 44', 'need 48');
    await expectInputError(readOnnxInitializers(externalVariant('neg.onnx', (kv) => kv.set('offset', '-4'))), 'offset "-4"');
    await expectInputError(readOnnxInitializers(externalVariant('miss.onnx', (kv) => kv.set('location', 'nope.bin'))), '"nope.bin" not found');
    const noLength = await readOnnxInitializers(externalVariant('nolen.onnx', (kv) => kv.delete('length')));
    expect(noLength[0].location).toMatchObject({ byteLength: 48 });
  });
});

describe('not ONNX', () => {
  it('garbage, truncated and empty files are one-line InputErrors', async () => {
    const garbage = join(dir, 'garbage.onnx');
    writeFileSync(garbage, Buffer.from('\x0f\xff\xff\xff this is not a model'));
    await expectInputError(readOnnxInitializers(garbage), 'garbage.onnx', 'not a valid ONNX model');
    await expectInputError(loadOnnxModel(garbage), 'garbage.onnx', 'not a valid ONNX model');
    const truncated = join(dir, 'truncated.onnx');
    const full = readFileSync(fixture('conv.onnx'));
    writeFileSync(truncated, full.subarray(0, full.length - 700));
    await expectInputError(readOnnxInitializers(truncated), 'truncated.onnx', 'not a valid ONNX model');
    await expectInputError(loadOnnxModel(truncated), 'truncated.onnx');
    const empty = join(dir, 'empty.onnx');
    writeFileSync(empty, '');
    await expectInputError(readOnnxInitializers(empty), 'no graph');
    await expectInputError(loadOnnxModel(empty), 'no graph');
    await expectInputError(readOnnxInitializers(join(dir, 'missing.onnx')), 'missing.onnx', 'ENOENT');
  });

  it('every truncation of a real model is an InputError, never a crash', async () => {
    const full = readFileSync(fixture('typed_fields.onnx'));
    const p = join(dir, 'cut.onnx');
    // Cuts before the graph field ends (the last ~16 bytes hold opset_import, whose loss is legal protobuf).
    for (let n = 0; n < full.length - 16; n += 7) {
      writeFileSync(p, full.subarray(0, n));
      await expectInputError(readOnnxInitializers(p), 'cut.onnx');
    }
  });

  it('loadOnnxModel decodes a valid model', async () => {
    const m = await loadOnnxModel(fixture('conv.onnx'));
    expect(m.graph!.node!.map((n) => n.opType)).toEqual(['Conv', 'Relu', 'Flatten', 'Gemm']);
  });
});
