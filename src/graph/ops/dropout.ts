// Dropout, active only in training graphs with p > 0. The keep-mask (0 or 1/(1-p), as torch
// scales it) is a graph input drawn per step from a seeded RNG by the session, so a step is
// reproducible from its seed; ONNX's own random ops cannot be reseeded per run.
import type { IRNode, Net } from '../ir.js';
import type { GradCtx, LowerCtx, OpDef } from '../op.js';
import { rest } from './shape.js';

export function dropout(net: Net, name: string, x: string): string {
  return net.add('Dropout', name, [x], [net.shape(x)], {})[0];
}

/** Name of the mask input of dropout node `node`. */
export function maskName(node: string): string {
  return `${node}.mask`;
}

function active(c: LowerCtx): boolean {
  return c.mode === 'train' && c.dropoutP > 0;
}

export const dropoutOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    if (!active(c)) {
      c.e.node('Identity', n.inputs, n.outputs[0]);
      return;
    }
    const mask = c.randomInput(maskName(n.name), rest(c.net, n.inputs[0]), c.dropoutP);
    c.e.node('Mul', [n.inputs[0], mask], n.outputs[0]);
  },
  backward(g: GradCtx, n: IRNode) {
    if (!active(g)) g.alias(0, g.GO(0)!);
    else g.e.node('Mul', [g.GO(0)!, maskName(n.name)], g.GI(0));
  },
};

/** Fills `out` with a keep-mask: 0 with probability p, else 1/(1-p). */
export function fillDropoutMask(out: Float32Array, p: number, uniform: () => number): Float32Array {
  const keep = 1 / (1 - p);
  for (let i = 0; i < out.length; i++) out[i] = uniform() < p ? 0 : keep;
  return out;
}
