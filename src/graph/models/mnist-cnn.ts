// DomainBed's MNIST_CNN featurizer (networks.py): four conv3×3 → ReLU → GroupNorm(8) blocks with
// widths w, 2w, 2w, 2w and strides 1, 2, 1, 1, then global average pooling; feature dim 2w.
// Names match the torch module (conv1..conv4, bn0..bn3 are the GroupNorms) under `featurizer.`.
import type { Net } from '../ir.js';
import { conv2d, flatten, globalAvgPool, groupNorm, relu } from '../ops/index.js';

export interface MnistCnnOptions {
  /** Channels of the first block; DomainBed uses 64 (feature dim 128). */
  width: number;
  /** GroupNorm groups (DomainBed: 8). */
  groups: number;
  /** M > 1: M independent members as channel blocks (x has M·C channels; grouped convolutions). */
  members?: number;
}

/** Returns the [N, 2w] feature ([N, M·2w] for M members, member m's in block m). */
export function mnistCnn(net: Net, x: string, o: MnistCnnOptions): string {
  const m = o.members ?? 1;
  const widths = [o.width, 2 * o.width, 2 * o.width, 2 * o.width];
  const strides = [1, 2, 1, 1];
  let h = x;
  for (let i = 0; i < 4; i++) {
    h = conv2d(net, `featurizer.conv${i + 1}`, h, { out: m * widths[i], k: 3, stride: strides[i], pad: 1, groups: m });
    h = relu(net, `featurizer.relu${i + 1}`, h);
    h = groupNorm(net, `featurizer.bn${i}`, h, m * o.groups);
  }
  // torch registers conv1..conv4 before bn0..bn3: keep its state_dict order (stable sort).
  net.params.sort((a, b) => Number(a.name.includes('.bn')) - Number(b.name.includes('.bn')));
  return flatten(net, 'featurizer.flatten', globalAvgPool(net, 'featurizer.avgpool', h));
}
