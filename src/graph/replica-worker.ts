// One data-parallel replica (replicas.ts): a training session over private copies of the
// parameters, refreshed from the shared staging copy before every step, writing its gradients
// into its shared gradient arrays. Errors go back as one message; the parent then fails the step.
import { parentPort, workerData } from 'node:worker_threads';
import type { ReplicaInit, ReplicaReply, ReplicaRequest } from './replicas.js';
import { TrainingSession } from './session.js';

const port = parentPort!;
const post = (m: ReplicaReply) => port.postMessage(m);
const { graph, specs, inputShape, staging, grads, threads } = workerData as ReplicaInit;
const params = new Map([...staging].map(([name, a]) => [name, a.slice()]));

try {
  const session = await TrainingSession.fromGraph(graph, specs, inputShape, params, { threads });
  port.on('message', async (m: ReplicaRequest) => {
    if (m.type === 'release') {
      await session.release();
      post({ type: 'ready' });
      port.close();
      return;
    }
    try {
      for (const [name, a] of staging) params.get(name)!.set(a);
      const r = await session.step(m.x, m.y, m.seed, { offset: m.offset, total: m.total });
      for (const [name, g] of r.grads) grads.get(name)!.set(g);
      post({ type: 'stepped', loss: r.loss });
    } catch (e) {
      post({ type: 'error', message: String((e as Error)?.message ?? e).split('\n')[0] });
    }
  });
  post({ type: 'ready' });
} catch (e) {
  post({ type: 'error', message: String((e as Error)?.message ?? e).split('\n')[0] });
}
