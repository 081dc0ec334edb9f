// The unified checkpoint view: one tensor list with locations, whatever the file format.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkpointFormat, openCheckpoint, readCheckpointTensorF32 } from '../../src/io/checkpoint.js';
import { onnx } from '../../src/io/onnx.js';
import { bitsOf, expectInputError, fixture } from './helpers.js';

describe('openCheckpoint', () => {
  it('lists a safetensors file in data order', async () => {
    const ck = await openCheckpoint(fixture('ref.safetensors'));
    expect(ck.kind).toBe('safetensors');
    expect(ck.metadata).toEqual({ format: 'pt', note: 'reference' });
    const offsets = ck.tensors.map((t) => (t.location.kind === 'file' ? t.location.offset : -1));
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(ck.byName.get('w32')).toMatchObject({ dtype: 'F32', shape: [3, 4], numel: 12, byteLength: 48 });
    const expected = JSON.parse(readFileSync(fixture('ref.expected.json'), 'utf8'));
    expect(bitsOf(await readCheckpointTensorF32(ck, 'w16'))).toEqual(expected.tensors.w16.decoded);
  });

  it('joins the shards of an index into one list', async () => {
    const ck = await openCheckpoint(fixture('sharded', 'model.safetensors.index.json'));
    expect(ck.kind).toBe('safetensors');
    expect(ck.tensors.map((t) => t.name)).toEqual(['a.bias', 'a.weight', 'b.weight']);
    expect(ck.byName.get('b.weight')!.location).toMatchObject({ kind: 'file', path: expect.stringMatching(/model-00002-of-00002/) });
  });

  it('lists ONNX initializers in graph order and skips those without raw bytes', async () => {
    const ck = await openCheckpoint(fixture('typed_fields.onnx'));
    expect(ck.kind).toBe('onnx');
    expect(ck.tensors.map((t) => `${t.name}:${t.dtype}`)).toEqual(['W16:F16', 'Bbf:BF16', 'D:F64', 'F:F32', 'shape:I64']);
    expect(ck.skipped).toEqual([{ name: 'label', reason: expect.stringMatching(/STRING/) }]);
    await expectInputError(readCheckpointTensorF32(ck, 'shape'), 'unsupported dtype I64 for tensor "shape"');
    const conv = await openCheckpoint(fixture('conv.onnx'));
    const raw = onnx.ModelProto.decode(readFileSync(fixture('conv.onnx'))).graph!.initializer![3];
    expect(Array.from(await readCheckpointTensorF32(conv, 'fc.bias'))).toEqual(Array.from(new Float32Array(Uint8Array.from(raw.rawData!).buffer)));
  });

  it('names the file when the extension is unknown or a tensor is missing', async () => {
    await expectInputError(openCheckpoint('/some/model.pt'), '/some/model.pt', 'unknown checkpoint format');
    expect(checkpointFormat('X.SAFETENSORS')).toBe('safetensors');
    const ck = await openCheckpoint(fixture('ref.safetensors'));
    await expectInputError(readCheckpointTensorF32(ck, 'nope'), 'no tensor "nope"');
  });
});
