// Linear (nn.Linear: y = x·Wᵀ + b on [N, F] inputs), lowered to one Gemm.
// Backward: dW = dYᵀ·x (Gemm transA), db = Σ_n dY, dx = dY·W.
import type { Attrs, IRNode, Net } from '../ir.js';
import type { GradCtx, LowerCtx, OpDef } from '../op.js';

interface LinearAttrs extends Attrs {
  bias: boolean;
}

export function linear(net: Net, name: string, x: string, out: number, bias = true): string {
  const s = net.shape(x);
  if (s.length !== 2 || s[1] === 'N') throw new Error(`${name}: expected an [N, F] input, got [${s.join(',')}]`);
  const f = s[1];
  const bound = 1 / Math.sqrt(f); // torch's kaiming_uniform(a=√5) and bias default
  const inputs = [x, net.param(`${name}.weight`, [out, f], { kind: 'uniform', bound })];
  if (bias) inputs.push(net.param(`${name}.bias`, [out], { kind: 'uniform', bound }));
  return net.add('Linear', name, inputs, [[s[0], out]], { bias })[0];
}

export const linearOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    c.e.node('Gemm', n.inputs, n.outputs[0], { transB: 1 });
  },
  backward(g: GradCtx, n: IRNode) {
    const dy = g.GO(0)!;
    if (g.needs(0)) g.e.node('MatMul', [dy, g.I(1)], g.GI(0));
    if (g.needs(1)) g.e.node('Gemm', [dy, g.I(0)], g.GI(1), { transA: 1 });
    if ((n.attrs as LinearAttrs).bias && g.needs(2)) g.e.reduceSum(dy, [0], g.GI(2), false);
  },
};
