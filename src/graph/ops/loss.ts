// Mean softmax cross-entropy over the batch (nn.CrossEntropyLoss()). The forward's log-prob
// output gives the softmax for the backward: dZ = (softmax − onehot(y)) / N, times dLoss.
import type { IRNode, Net } from '../ir.js';
import type { GradCtx, LowerCtx, OpDef } from '../op.js';
import { saved } from '../op.js';

export function crossEntropy(net: Net, name: string, logits: string, labels: string): string {
  const s = net.shape(logits);
  if (s.length !== 2 || net.value(labels).kind !== 'label') throw new Error(`${name}: expected [N, C] logits and int64 labels`);
  return net.add('CrossEntropy', name, [logits, labels], [[]], {})[0];
}

export const crossEntropyOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    c.e.node('SoftmaxCrossEntropyLoss', n.inputs, [n.outputs[0], saved(n, 'logp')], { reduction: 'mean' });
  },
  backward(g: GradCtx, n: IRNode) {
    if (!g.needs(0)) return;
    const classes = g.net.shape(n.inputs[0])[1] as number;
    const e = g.e;
    const softmax = e.node('Exp', [saved(n, 'logp')], g.tmp('softmax'));
    const onehot = e.node('OneHot', [n.inputs[1], e.i64([classes]), e.constTensor('onehot/values', [2], () => new Float32Array([0, 1]))], g.tmp('onehot'));
    const diff = e.node('Sub', [softmax, onehot], g.tmp('diff'));
    const batch = e.node('Cast', [e.node('Shape', [n.inputs[0]], g.tmp('batch'), { end: 1 })], g.tmp('batchF'), { to: 1 });
    const mean = e.node('Div', [diff, batch], g.tmp('mean'));
    e.node('Mul', [mean, g.GO(0)!], g.GI(0));
  },
};
