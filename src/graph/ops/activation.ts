// ReLU. Backward masks the output gradient where the forward output was positive; reading the
// mask from the output (not the input) lets ORT fuse the forward Conv+Relu. Multiplying by the
// mask as floats is faster on ORT CPU than Where with a broadcast scalar (Tuning.reluGrad).
import type { IRNode, Net } from '../ir.js';
import type { GradCtx, LowerCtx, OpDef } from '../op.js';

export function relu(net: Net, name: string, x: string): string {
  return net.add('ReLU', name, [x], [net.shape(x)], {})[0];
}

export const reluOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    if (c.e.has(n.outputs[0])) return; // computed by the NCHWc Conv before it (ops/conv.ts)
    c.e.node('Relu', n.inputs, n.outputs[0]);
  },
  backward(g: GradCtx) {
    const positive = g.e.node('Greater', [g.O(0), g.e.f32(0)], g.tmp('mask'));
    if (g.tuning.reluGrad === 'where') g.e.node('Where', [positive, g.GO(0)!, g.e.f32(0)], g.GI(0));
    else g.e.node('Mul', [g.GO(0)!, g.e.node('Cast', [positive], g.tmp('maskF'), { to: 1 })], g.GI(0));
  },
};
