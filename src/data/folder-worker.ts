// Worker-thread entry of the image decode pool: decodes and transforms a chunk of image
// files (see image-transform.ts) and sends the floats back as a transferred buffer.
import { parentPort } from 'node:worker_threads';
import { InputError } from '../errors.js';
import { loadImageSample } from './image-transform.js';

export interface DecodeRequest {
  readonly id: number;
  readonly files: readonly string[];
  /** One seed per file (training augmentation), or null for the test transform. */
  readonly seeds: readonly number[] | null;
  readonly size: number;
}

export type DecodeReply =
  | { readonly id: number; readonly x: Float32Array }
  | { readonly id: number; readonly error: { readonly where: string; readonly problem: string; readonly input: boolean } };

parentPort!.on('message', async (req: DecodeRequest) => {
  const per = 3 * req.size * req.size;
  const x = new Float32Array(req.files.length * per);
  try {
    await Promise.all(
      req.files.map((f, k) => loadImageSample(f, req.size, req.seeds ? req.seeds[k] : null, x.subarray(k * per, (k + 1) * per))),
    );
    parentPort!.postMessage({ id: req.id, x } satisfies DecodeReply, [x.buffer]);
  } catch (e) {
    const input = e instanceof InputError;
    const error = input ? { where: e.where, problem: e.problem, input } : { where: '', problem: (e as Error).message, input };
    parentPort!.postMessage({ id: req.id, error } satisfies DecodeReply);
  }
});
