// torchvision ResNet-18 / ResNet-50 featurizers (fc removed), any input size, with BatchNorm
// frozen (DomainBed) or in training mode. Parameter names are torchvision's state_dict keys under
// `featurizer.`; `baseWidth` scales every width (64 is torchvision; small values for tests).
import type { Net } from '../ir.js';
import { add, batchNorm, conv2d, flatten, globalAvgPool, maxPool, relu } from '../ops/index.js';

export interface ResNetOptions {
  depth: 18 | 50;
  baseWidth: number;
  batchNorm: 'frozen' | 'train';
}

const LAYOUT = { 18: { blocks: [2, 2, 2, 2], expansion: 1 }, 50: { blocks: [3, 4, 6, 3], expansion: 4 } } as const;

interface Ctx {
  net: Net;
  bn: 'frozen' | 'train';
}

function convBn(c: Ctx, prefix: string, convName: string, bnName: string, x: string, out: number, k: number, stride: number): string {
  const h = conv2d(c.net, `${prefix}.${convName}`, x, { out, k, stride, pad: (k - 1) / 2, bias: false, init: 'fan_out_normal' });
  return batchNorm(c.net, `${prefix}.${bnName}`, h, c.bn);
}

/** BasicBlock (ResNet-18) or Bottleneck (ResNet-50, stride on the 3×3 conv as torchvision v1.5). */
function block(c: Ctx, p: string, x: string, inplanes: number, planes: number, stride: number, expansion: number): string {
  let h: string;
  if (expansion === 1) {
    h = relu(c.net, `${p}.relu1`, convBn(c, p, 'conv1', 'bn1', x, planes, 3, stride));
    h = convBn(c, p, 'conv2', 'bn2', h, planes, 3, 1);
  } else {
    h = relu(c.net, `${p}.relu1`, convBn(c, p, 'conv1', 'bn1', x, planes, 1, 1));
    h = relu(c.net, `${p}.relu2`, convBn(c, p, 'conv2', 'bn2', h, planes, 3, stride));
    h = convBn(c, p, 'conv3', 'bn3', h, planes * expansion, 1, 1);
  }
  const shortcut = stride !== 1 || inplanes !== planes * expansion ? convBn(c, p, 'downsample.0', 'downsample.1', x, planes * expansion, 1, stride) : x;
  return relu(c.net, `${p}.relu`, add(c.net, `${p}.add`, h, shortcut));
}

/** Returns the [N, 8·baseWidth·expansion] feature. */
export function resnet(net: Net, x: string, o: ResNetOptions): string {
  const c: Ctx = { net, bn: o.batchNorm };
  const { blocks, expansion } = LAYOUT[o.depth];
  let h = relu(net, 'featurizer.relu', convBn(c, 'featurizer', 'conv1', 'bn1', x, o.baseWidth, 7, 2));
  h = maxPool(net, 'featurizer.maxpool', h, 3, 2, 1);
  let inplanes = o.baseWidth;
  blocks.forEach((count, li) => {
    const planes = o.baseWidth << li;
    for (let b = 0; b < count; b++) {
      h = block(c, `featurizer.layer${li + 1}.${b}`, h, inplanes, planes, b === 0 && li > 0 ? 2 : 1, expansion);
      inplanes = planes * expansion;
    }
  });
  return flatten(net, 'featurizer.flatten', globalAvgPool(net, 'featurizer.avgpool', h));
}
