// The head of a multi-member graph (M models of one architecture trained side by side): a
// per-member Linear as one batched MatMul over [M, N, F], and the sum of the members' mean
// cross-entropies (each member's gradient is that of its own loss). The convolutional trunk needs
// no special op: members are channel blocks of grouped convolutions and GroupNorms.
import type { Attrs, IRNode, Net } from '../ir.js';
import type { GradCtx, LowerCtx, OpDef } from '../op.js';
import { saved } from '../op.js';

interface MemberAttrs extends Attrs {
  members: number;
}

/**
 * x [N, M·F] (member m's features in block m) → logits [M, N, out]. The weight [M·out, F] and
 * bias [M·out] stack the members' nn.Linear parameters, each member's a contiguous block.
 */
export function memberLinear(net: Net, name: string, x: string, members: number, out: number): string {
  const s = net.shape(x);
  if (s.length !== 2 || s[1] === 'N' || s[1] % members) throw new Error(`${name}: expected [N, ${members}·F] features, got [${s.join(',')}]`);
  const f = s[1] / members, bound = 1 / Math.sqrt(f);
  const w = net.param(`${name}.weight`, [members * out, f], { kind: 'uniform', bound });
  const b = net.param(`${name}.bias`, [members * out], { kind: 'uniform', bound });
  return net.add('MemberLinear', name, [x, w, b], [[members, s[0], out]], { members })[0];
}

export const memberLinearOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    const e = c.e, m = (n.attrs as MemberAttrs).members;
    const [f, k] = [c.net.shape(n.inputs[1])[1] as number, c.net.shape(n.outputs[0])[2] as number];
    const xm = e.node('Transpose', [e.node('Reshape', [n.inputs[0], e.i64([0, m, f])], saved(n, 'x3'))], saved(n, 'xm'), { perm: [1, 0, 2] });
    const w3 = e.node('Reshape', [n.inputs[1], e.i64([m, k, f])], saved(n, 'w3'));
    const mm = e.node('MatMul', [xm, e.node('Transpose', [w3], saved(n, 'wT'), { perm: [0, 2, 1] })], saved(n, 'mm'));
    e.node('Add', [mm, e.node('Reshape', [n.inputs[2], e.i64([m, 1, k])], saved(n, 'b3'))], n.outputs[0]);
  },
  backward(g: GradCtx, n: IRNode) {
    const e = g.e, m = (n.attrs as MemberAttrs).members, dz = g.GO(0)!;
    const f = g.net.shape(n.inputs[1])[1] as number;
    if (g.needs(0)) {
      const dx = e.node('MatMul', [dz, saved(n, 'w3')], g.tmp('dxm'));
      e.node('Reshape', [e.node('Transpose', [dx], g.tmp('dxT'), { perm: [1, 0, 2] }), e.i64([0, m * f])], g.GI(0));
    }
    if (g.needs(1)) {
      const dw = e.node('MatMul', [e.node('Transpose', [dz], g.tmp('dzT'), { perm: [0, 2, 1] }), saved(n, 'xm')], g.tmp('dw3'));
      e.node('Reshape', [dw, e.i64([-1, f])], g.GI(1));
    }
    if (g.needs(2)) e.node('Reshape', [e.reduceSum(dz, [1], g.tmp('db2'), false), e.i64([-1])], g.GI(2));
  },
};

/** Σ_m mean_n CE(logits[m], labels[m]) for logits [M, N, C] and labels [M, N]; output 1: the M losses. */
export function memberCrossEntropy(net: Net, name: string, logits: string, labels: string): string {
  const s = net.shape(logits);
  if (s.length !== 3 || net.value(labels).kind !== 'label') throw new Error(`${name}: expected [M, N, C] logits and int64 labels`);
  return net.add('MemberCrossEntropy', name, [logits, labels], [[], [s[0]]], { members: s[0] as number })[0];
}

export const memberCrossEntropyOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    const e = c.e, m = (n.attrs as MemberAttrs).members;
    const k = c.net.shape(n.inputs[0])[2] as number;
    const flat = e.node('Reshape', [n.inputs[0], e.i64([-1, k])], saved(n, 'flat'));
    const labels = e.node('Reshape', [n.inputs[1], e.i64([-1])], saved(n, 'labels'));
    const each = e.node('SoftmaxCrossEntropyLoss', [flat, labels], [saved(n, 'each'), saved(n, 'logp')], { reduction: 'none' });
    const perMember = e.reduceMean(e.node('Reshape', [each, e.i64([m, -1])], saved(n, 'each2')), [1], n.outputs[1], false);
    e.reduceSum(perMember, [0], n.outputs[0], false);
  },
  backward(g: GradCtx, n: IRNode) {
    if (!g.needs(0)) return;
    const e = g.e, s = g.net.shape(n.inputs[0]);
    const k = s[2] as number;
    const softmax = e.node('Exp', [saved(n, 'logp')], g.tmp('softmax'));
    const onehot = e.node('OneHot', [saved(n, 'labels'), e.i64([k]), e.constTensor('onehot/values', [2], () => new Float32Array([0, 1]))], g.tmp('onehot'));
    const diff = e.node('Sub', [softmax, onehot], g.tmp('diff'));
    // Each member's loss is a mean over its own N examples.
    const batch = e.node('Cast', [e.node('Shape', [n.inputs[0]], g.tmp('batch'), { start: 1, end: 2 })], g.tmp('batchF'), { to: 1 });
    const mean = e.node('Mul', [e.node('Div', [diff, batch], g.tmp('mean')), g.GO(0)!], g.tmp('dflat'));
    e.node('Reshape', [mean, e.i64([s[0] as number, -1, k])], g.GI(0));
  },
};
