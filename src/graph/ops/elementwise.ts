// Elementwise Add of two same-shape values (the residual connection). Its gradient passes
// through unchanged to both inputs; the compiler sums it with the other branch's gradient.
import type { IRNode, Net } from '../ir.js';
import type { GradCtx, LowerCtx, OpDef } from '../op.js';

export function add(net: Net, name: string, a: string, b: string): string {
  const sa = net.shape(a), sb = net.shape(b);
  if (sa.join(',') !== sb.join(',')) throw new Error(`${name}: shapes [${sa}] and [${sb}] differ`);
  return net.add('Add', name, [a, b], [sa], {})[0];
}

export const addOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    c.e.node('Add', n.inputs, n.outputs[0]);
  },
  backward(g: GradCtx) {
    for (const i of [0, 1]) if (g.needs(i)) g.alias(i, g.GO(0)!);
  },
};
