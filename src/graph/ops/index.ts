// The op table: IR op name → its family's forward lowering and backward rule.
import type { IRNode } from '../ir.js';
import type { OpDef } from '../op.js';
import { reluOp } from './activation.js';
import { conv } from './conv.js';
import { dropoutOp } from './dropout.js';
import { addOp } from './elementwise.js';
import { linearOp } from './linear.js';
import { crossEntropyOp } from './loss.js';
import { memberCrossEntropyOp, memberLinearOp } from './member.js';
import { batchNormOp, groupNormOp } from './norm.js';
import { globalAvgPoolOp, maxPoolOp } from './pool.js';
import { reshapeOp } from './shape.js';

export const OPS: Readonly<Record<string, OpDef>> = {
  Conv2d: conv,
  Linear: linearOp,
  ReLU: reluOp,
  GroupNorm: groupNormOp,
  BatchNorm: batchNormOp,
  MaxPool: maxPoolOp,
  GlobalAvgPool: globalAvgPoolOp,
  Dropout: dropoutOp,
  Add: addOp,
  Reshape: reshapeOp,
  CrossEntropy: crossEntropyOp,
  MemberLinear: memberLinearOp,
  MemberCrossEntropy: memberCrossEntropyOp,
};

export function opDef(n: IRNode): OpDef {
  const d = OPS[n.op];
  if (!d) throw new Error(`node ${n.name}: unknown op '${n.op}'`);
  return d;
}

export { relu } from './activation.js';
export { conv2d } from './conv.js';
export { dropout } from './dropout.js';
export { add } from './elementwise.js';
export { linear } from './linear.js';
export { crossEntropy } from './loss.js';
export { memberCrossEntropy, memberLinear } from './member.js';
export { batchNorm, groupNorm } from './norm.js';
export { globalAvgPool, maxPool } from './pool.js';
export { flatten, reshape } from './shape.js';
