// Where the auto tuning lowers Conv2d to Winograd (src/graph/ops/winograd.ts): CPU training
// graphs, 3×3 stride-1 layers without groups from WINOGRAD_MIN_CHANNELS channels; forward-only
// graphs (evaluation, export) and CUDA graphs (no NCHWc block) keep standard convolutions. The
// numerics of both tile sizes are checked in ops.test.ts and models-torch.test.ts.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { compileForward, compileTraining } from '../../src/graph/compile.js';
import { Net } from '../../src/graph/ir.js';
import type { Tuning } from '../../src/graph/op.js';
import { conv2d, crossEntropy, flatten, globalAvgPool } from '../../src/graph/ops/index.js';
import { WINOGRAD_MIN_CHANNELS } from '../../src/graph/ops/winograd.js';

const C = WINOGRAD_MIN_CHANNELS;

function roles(channels: number, o: { stride?: number; groups?: number; k?: number } = {}) {
  const net = new Net();
  const x = net.input('x', ['N', channels, 6, 6]);
  const y = net.input('y', ['N'], 'label');
  const h = conv2d(net, 'featurizer.c', x, { out: channels, k: o.k ?? 3, pad: (o.k ?? 3) >> 1, stride: o.stride ?? 1, groups: o.groups ?? 1 });
  const logits = flatten(net, 'head.flatten', globalAvgPool(net, 'gap', h));
  return { net, x, y, logits, loss: crossEntropy(net, 'loss', logits, y) };
}

/** The Winograd tile sizes the graph uses: the filter transforms' constants name them. */
function tiles(bytes: Uint8Array): string[] {
  const g = onnxProto.onnx.ModelProto.decode(bytes).graph!;
  const names = new Set([...g.initializer!.map((t) => t.name!), ...g.node!.flatMap((n) => n.input!)]);
  return ['F2', 'F4'].filter((t) => [...names].some((n) => n.includes(`winograd/${t}/GG`)));
}

const train = (r: ReturnType<typeof roles>, nchwcBlock: number, tuning: Partial<Tuning> = {}) => tiles(compileTraining(r, { nchwcBlock, tuning }).bytes);

describe('Winograd lowering choice', () => {
  it('auto: F(4×4) in CPU training graphs from the channel threshold, direct below it', () => {
    expect(train(roles(C), 16)).toEqual(['F4']);
    expect(train(roles(C / 2), 16)).toEqual([]);
  });

  it('auto: direct for CUDA graphs, strided, grouped and non-3×3 layers, and forward-only graphs', () => {
    expect(train(roles(C), 0)).toEqual([]);
    expect(train(roles(C, { stride: 2 }), 16)).toEqual([]);
    expect(train(roles(C, { groups: 2 }), 16)).toEqual([]);
    expect(train(roles(C, { k: 1 }), 16)).toEqual([]);
    expect(tiles(compileForward(roles(C), { tuning: { convWinograd: 'F4' } }).bytes)).toEqual([]);
  });

  it('explicit tunings force a tile size on any eligible layer, or none', () => {
    expect(train(roles(4), 0, { convWinograd: 'F2' })).toEqual(['F2']);
    expect(train(roles(4), 0, { convWinograd: 'F4' })).toEqual(['F4']);
    expect(train(roles(C), 16, { convWinograd: 'off' })).toEqual([]);
    expect(train(roles(C, { stride: 2 }), 16, { convWinograd: 'F4' })).toEqual([]);
  });
});
