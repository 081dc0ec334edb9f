// MaxPool (square window, stride, padding) and global average pooling.
// MaxPool backward scatters dY to the argmax positions with ScatterElements(add) on the flat
// `Indices` output: overlapping windows (3×3 stride 2) must sum, which MaxUnpool would not do.
import type { Attrs, IRNode, Net } from '../ir.js';
import type { GradCtx, LowerCtx, OpDef } from '../op.js';
import { saved } from '../op.js';
import { spatial } from './shape.js';

interface PoolAttrs extends Attrs {
  k: number;
  stride: number;
  pad: number;
}

export function maxPool(net: Net, name: string, x: string, k: number, stride: number, pad: number): string {
  const [n, c, h, w] = spatial(net, x, name);
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((w + 2 * pad - k) / stride) + 1;
  return net.add('MaxPool', name, [x], [[n, c, ho, wo]], { k, stride, pad })[0];
}

export const maxPoolOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    const a = n.attrs as PoolAttrs;
    const attrs = { kernel_shape: [a.k, a.k], strides: [a.stride, a.stride], pads: [a.pad, a.pad, a.pad, a.pad] };
    // Indices (flat over N·C·H·W) only where a backward pass may read them.
    const outs = c.mode === 'train' ? [n.outputs[0], saved(n, 'indices')] : [n.outputs[0]];
    c.e.node('MaxPool', n.inputs, outs, attrs);
  },
  backward(g: GradCtx, n: IRNode) {
    const [, c, h, w] = spatial(g.net, g.I(0), n.name);
    const flat = g.e.i64([-1]);
    const zeros = g.e.node('ConstantOfShape', [g.e.node('Shape', [g.I(0)], g.tmp('shape'))], g.tmp('zeros'));
    const zflat = g.e.node('Reshape', [zeros, flat], g.tmp('zerosFlat'));
    const idx = g.e.node('Reshape', [saved(n, 'indices'), flat], g.tmp('indices'));
    const dy = g.e.node('Reshape', [g.GO(0)!, flat], g.tmp('dyFlat'));
    const dx = g.e.node('ScatterElements', [zflat, idx, dy], g.tmp('dxFlat'), { axis: 0, reduction: 'add' });
    g.e.node('Reshape', [dx, g.e.i64([-1, c, h, w])], g.GI(0));
  },
};

/** AdaptiveAvgPool2d((1, 1)): [N, C, H, W] → [N, C, 1, 1]. */
export function globalAvgPool(net: Net, name: string, x: string): string {
  const [n, c] = spatial(net, x, name);
  return net.add('GlobalAvgPool', name, [x], [[n, c, 1, 1]], {})[0];
}

export const globalAvgPoolOp: OpDef = {
  lower(c: LowerCtx, n: IRNode) {
    c.e.node('GlobalAveragePool', n.inputs, n.outputs[0]);
  },
  backward(g: GradCtx, n: IRNode) {
    const [, , h, w] = spatial(g.net, g.I(0), n.name);
    const scaled = g.e.node('Div', [g.GO(0)!, g.e.f32(h * w)], g.tmp('scaled'));
    g.e.node('Expand', [scaled, g.e.node('Shape', [g.I(0)], g.tmp('shape'))], g.GI(0));
  },
};
