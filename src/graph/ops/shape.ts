// Flatten / Reshape of the per-example dims (the batch axis is kept), and the shape helpers
// the other op families use to read an NCHW value's static dims.
import type { Attrs, Dim, IRNode, Net } from '../ir.js';
import type { GradCtx, LowerCtx, OpDef } from '../op.js';
import type { OnnxEmitter } from '../onnx-builder.js';

/** [batch, C, H, W] of an NCHW value, with C/H/W static. */
export function spatial(net: Net, x: string, where: string): [Dim, number, number, number] {
  const s = net.shape(x);
  if (s.length !== 4 || s.slice(1).some((d) => d === 'N')) {
    throw new Error(`${where}: expected an NCHW input, got ${x} of shape [${s.join(',')}]`);
  }
  return s as [Dim, number, number, number];
}

/**
 * v with a block of zeros appended along `axis`, the target of padding indices in the Gathers
 * that follow (im2col, Winograd tiles). The block's dims are `before`, the batch size of
 * `batchOf` (its first dim), then `after`. Concat, because ORT's Pad copies the same bytes
 * measurably slower.
 */
export function appendZeros(e: OnnxEmitter, v: string, batchOf: string, block: { before: number[]; after: number[] }, axis: number, out: string): string {
  const batch = e.node('Shape', [batchOf], `${out}/batch`, { end: 1 });
  const shape = e.node('Concat', [...(block.before.length ? [e.i64(block.before)] : []), batch, ...(block.after.length ? [e.i64(block.after)] : [])], `${out}/zerosShape`, { axis: 0 });
  return e.node('Concat', [v, e.node('ConstantOfShape', [shape], `${out}/zeros`)], out, { axis });
}

/** The static per-example dims of a value (everything after the batch axis). */
export function rest(net: Net, x: string): number[] {
  return net.shape(x).slice(1) as number[];
}

interface ReshapeAttrs extends Attrs {
  /** Target per-example shape, comma-separated (attrs are scalars). */
  shape: string;
}

export function reshape(net: Net, name: string, x: string, perExample: number[]): string {
  const from = rest(net, x).reduce((a, b) => a * b, 1);
  const to = perExample.reduce((a, b) => a * b, 1);
  if (from !== to) throw new Error(`${name}: cannot reshape [${rest(net, x)}] to [${perExample}]`);
  return net.add('Reshape', name, [x], [[net.shape(x)[0], ...perExample]], { shape: perExample.join(',') })[0];
}

/** torch.flatten(x, 1). */
export function flatten(net: Net, name: string, x: string): string {
  return reshape(net, name, x, [rest(net, x).reduce((a, b) => a * b, 1)]);
}

// Reshape's 0 copies the batch dim from its input, so the graph works for any batch size.
export const reshapeOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    const shape = (n.attrs as ReshapeAttrs).shape.split(',').map(Number);
    c.e.node('Reshape', [n.inputs[0], c.e.i64([0, ...shape])], n.outputs[0]);
  },
  backward(g: GradCtx) {
    g.e.node('Reshape', [g.GO(0)!, g.e.i64([0, ...rest(g.net, g.I(0))])], g.GI(0));
  },
};
