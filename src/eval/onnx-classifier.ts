// Any ONNX image classifier as a Predictor: one float input [N, C, H, W], logits [N, K] out
// (the output named `logits`, else the only one). Loading reads the declared shapes so a wrong
// file fails in one line naming it before data is read; a fixed batch axis is honoured by
// running the batch in chunks of that size, the last one zero-padded.
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { InputError, isInputError } from '../errors.js';
import { createSession, LOGITS, type SessionOptions } from '../graph/index.js';
import type { BatchShape, Predictor } from './predictor.js';

export interface OnnxClassifier extends Predictor {
  /** The file, or `<bytes>` for a model given in memory (used in error messages). */
  readonly source: string;
  readonly inputName: string;
  readonly outputName: string;
  /** The batch size the model's input fixes, or null for a free batch axis. */
  readonly fixedBatch: number | null;
  readonly session: ort.InferenceSession;
}

export interface LoadOptions extends SessionOptions {
  /** Name for messages when `model` is bytes (default `<bytes>`). */
  readonly name?: string;
}

/** A declared dimension: a positive size, or null for symbolic/unknown. */
const dimOf = (d: number | string | undefined): number | null => (typeof d === 'number' && d > 0 ? d : null);

const firstLine = (m: string) => m.split('\n').find((l) => l.trim())?.trim() ?? m;

async function readModelFile(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError(path, 'no such file');
    if (code === 'EISDIR') throw new InputError(path, 'is a folder, not an ONNX model');
    throw new InputError(path, `cannot read: ${(e as Error).message}`);
  }
  if (bytes.length === 0) throw new InputError(path, 'empty file, not an ONNX model');
  return bytes;
}

function tensorMeta(meta: ort.InferenceSession.ValueMetadata, where: string, what: string): { type: string; shape: readonly (number | string)[] } {
  if (!meta.isTensor) throw new InputError(where, `${what} '${meta.name}' is not a tensor`);
  return meta;
}

export async function loadOnnxClassifier(model: string | Uint8Array, o: LoadOptions = {}): Promise<OnnxClassifier> {
  const source = typeof model === 'string' ? model : (o.name ?? '<bytes>');
  const bytes = typeof model === 'string' ? await readModelFile(model) : model;
  let session: ort.InferenceSession;
  try {
    session = await createSession(bytes, o);
  } catch (e) {
    if (isInputError(e)) throw e;
    throw new InputError(source, `not a loadable ONNX model (onnxruntime: ${firstLine((e as Error).message)})`);
  }
  try {
    return describe(session, source);
  } catch (e) {
    await session.release();
    throw e;
  }
}

function describe(session: ort.InferenceSession, source: string): OnnxClassifier {
  if (session.inputNames.length !== 1) {
    const names = session.inputNames.slice(0, 4).join(', ') + (session.inputNames.length > 4 ? ', …' : '');
    throw new InputError(source, `has ${session.inputNames.length} inputs (${names}); eval needs a classifier with one image input [N, C, H, W] and its weights as initializers`);
  }
  const input = tensorMeta(session.inputMetadata[0], source, 'input');
  const inputName = session.inputNames[0];
  if (input.type !== 'float32') throw new InputError(source, `input '${inputName}' is ${input.type}; eval feeds float32 images`);
  if (input.shape.length !== 0 && input.shape.length !== 4) {
    throw new InputError(source, `input '${inputName}' has shape [${input.shape.join(', ')}]; eval feeds images [N, C, H, W]`);
  }
  const outIdx = session.outputNames.includes(LOGITS) ? session.outputNames.indexOf(LOGITS) : session.outputNames.length === 1 ? 0 : -1;
  if (outIdx < 0) throw new InputError(source, `has ${session.outputNames.length} outputs (${session.outputNames.join(', ')}) and none named '${LOGITS}'`);
  const outputName = session.outputNames[outIdx];
  const output = tensorMeta(session.outputMetadata[outIdx], source, 'output');
  if (output.type !== 'float32') throw new InputError(source, `output '${outputName}' is ${output.type}; eval reads float32 logits`);
  if (output.shape.length !== 0 && output.shape.length !== 2) {
    throw new InputError(source, `output '${outputName}' has shape [${output.shape.join(', ')}]; eval reads logits [N, classes]`);
  }
  const ishape = input.shape.length ? input.shape.map(dimOf) : [null, null, null, null];
  const numClasses = output.shape.length ? dimOf(output.shape[1]) : null;
  const fixedBatch = ishape[0];

  async function run(x: Float32Array, shape: BatchShape): Promise<Float32Array> {
    const out = (await session.run({ [inputName]: new ort.Tensor('float32', x, [...shape]) }))[outputName];
    if (out.dims.length !== 2 || out.dims[0] !== shape[0]) {
      throw new InputError(source, `output '${outputName}' came back [${out.dims.join(', ')}] for a batch of ${shape[0]}; eval reads logits [N, classes]`);
    }
    return out.data as Float32Array;
  }

  return {
    source,
    inputName,
    outputName,
    fixedBatch,
    session,
    inputShape: [ishape[1], ishape[2], ishape[3]],
    numClasses,
    async logits(x, shape) {
      if (fixedBatch === null || fixedBatch === shape[0]) return run(x, shape);
      const per = shape[1] * shape[2] * shape[3];
      const chunkShape: BatchShape = [fixedBatch, shape[1], shape[2], shape[3]];
      const parts: Float32Array[] = [];
      let pad: Float32Array | null = null;
      for (let at = 0; at < shape[0]; at += fixedBatch) {
        const count = Math.min(fixedBatch, shape[0] - at);
        let chunk = x.subarray(at * per, (at + count) * per);
        if (count < fixedBatch) {
          pad ??= new Float32Array(fixedBatch * per);
          pad.fill(0).set(chunk);
          chunk = pad;
        }
        const logits = await run(chunk, chunkShape);
        parts.push(logits.subarray(0, (count * logits.length) / fixedBatch));
      }
      const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
      return out;
    },
    release: () => session.release(),
  };
}
