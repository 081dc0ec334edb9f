// Worker-thread side of runJobInWorker: runs one job (dataset, sessions, optimizer and loader all
// live in this thread) and posts progress, then the result or a one-line error, to the parent.
// A 'cancel' message aborts the job at its next step or evaluation batch, so the thread is never
// torn down while onnxruntime is inside a run (that can abort the whole process).
import { parentPort, workerData } from 'node:worker_threads';
import { InputError } from '../errors.js';
import { runJob } from './trainer.js';
import type { ParentMessage, WorkerInput, WorkerMessage } from './worker.js';

const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const { job, dataset } = workerData as WorkerInput;
const cancel = new AbortController();
const onMessage = (m: ParentMessage) => {
  if (m.type === 'cancel') cancel.abort();
};
port.on('message', onMessage);

try {
  const result = await runJob(job, { dataset, signal: cancel.signal, onProgress: (progress) => post({ type: 'progress', progress }) });
  post({ type: 'result', result });
} catch (e) {
  const err = e as Error;
  const firstLine = (s: string) => s.split('\n')[0];
  post(
    e instanceof InputError
      ? { type: 'error', input: true, where: e.where, problem: firstLine(e.problem) }
      : { type: 'error', input: false, where: '', problem: firstLine(err?.message ?? String(e)), stack: err?.stack },
  );
} finally {
  port.off('message', onMessage); // nothing left to wait for: let the thread end
}
