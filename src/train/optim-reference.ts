// Plain TypeScript reference loops for the fused optimizer steps, on the same arguments as the
// native `sgdStep` / `adamStep`. Each line is one torch op rounded to fp32 (Math.fround; a double
// op rounded once to fp32 is the correctly rounded fp32 op), in the op order of the native scalar
// reference, so the two agree bit for bit. Used as the bench baseline and as a test cross-check.
import type { AdamGroupArgs, SgdGroupArgs } from '../../bindings/native.js';
import { checkAdamHyperparams, checkAdamStep, checkSgdHyperparams } from './optim-hparams.js';

const f = Math.fround;

function checkArrays(where: string, params: readonly Float32Array[], named: Record<string, readonly Float32Array[]>): void {
  for (const [name, list] of Object.entries(named)) {
    if (list.length !== params.length)
      throw new RangeError(`${where}.${name} has ${list.length} arrays but params has ${params.length}`);
    list.forEach((a, i) => {
      if (a.length !== params[i].length)
        throw new RangeError(`${where}.${name}[${i}] has ${a.length} elements but params[${i}] has ${params[i].length}`);
    });
  }
}

export function sgdStepTs(groups: readonly SgdGroupArgs[]): void {
  groups.forEach((g, gi) => {
    const where = `sgdStepTs: groups[${gi}]`;
    const h = { nesterov: false, maximize: false, ...g };
    checkSgdHyperparams(h, where);
    const momentum = h.momentum !== 0;
    if (momentum && !g.momentumBuffers) throw new TypeError(`${where}.momentumBuffers must be an array when momentum != 0`);
    checkArrays(where, g.params, momentum ? { grads: g.grads, momentumBuffers: g.momentumBuffers! } : { grads: g.grads });
  });
  for (const g of groups) {
    const sign = g.maximize ? -1 : 1;
    const wd = f(g.weightDecay);
    const mu = f(g.momentum);
    const oneMinusDampening = f(1 - g.dampening);
    const negLr = f(-g.lr);
    const hasWd = g.weightDecay !== 0;
    const hasMomentum = g.momentum !== 0;
    const first = g.firstStep === true;
    const nesterov = g.nesterov === true;
    g.params.forEach((p, t) => {
      const grad = g.grads[t];
      const buf = hasMomentum ? g.momentumBuffers![t] : p;
      for (let i = 0; i < p.length; i++) {
        let d = sign * grad[i];
        if (hasWd) d = f(d + f(wd * p[i]));
        if (hasMomentum) {
          const b = first ? d : f(f(buf[i] * mu) + f(oneMinusDampening * d));
          buf[i] = b;
          d = nesterov ? f(d + f(mu * b)) : b;
        }
        p[i] = f(p[i] + f(negLr * d));
      }
    });
  }
}

export function adamStepTs(groups: readonly AdamGroupArgs[]): void {
  groups.forEach((g, gi) => {
    const where = `adamStepTs: groups[${gi}]`;
    checkAdamHyperparams({ decoupled: false, maximize: false, ...g }, where);
    checkAdamStep(g.step, where);
    checkArrays(where, g.params, { grads: g.grads, expAvg: g.expAvg, expAvgSq: g.expAvgSq });
  });
  for (const g of groups) {
    // Host scalars in double, as torch 1.13 computes them, then rounded once to fp32.
    const bc1 = 1 - Math.pow(g.beta1, g.step);
    const bc2 = 1 - Math.pow(g.beta2, g.step);
    const sign = g.maximize ? -1 : 1;
    const wd = f(g.weightDecay);
    const paramDecay = f(1 - g.lr * g.weightDecay);
    const b1 = f(g.beta1), oneMinusB1 = f(1 - g.beta1);
    const b2 = f(g.beta2), oneMinusB2 = f(1 - g.beta2);
    const bc2Sqrt = f(Math.sqrt(bc2));
    const negStepSize = f(-(g.lr / bc1));
    const eps = f(g.eps);
    const hasWd = g.weightDecay !== 0;
    const decoupled = g.decoupled === true;
    g.params.forEach((p, t) => {
      const grad = g.grads[t], m = g.expAvg[t], v = g.expAvgSq[t];
      for (let i = 0; i < p.length; i++) {
        let d = sign * grad[i];
        let x = p[i];
        if (decoupled) {
          if (hasWd) x = f(x * paramDecay);
        } else if (hasWd) {
          d = f(d + f(wd * x));
        }
        const mi = f(f(m[i] * b1) + f(oneMinusB1 * d));
        const vi = f(f(v[i] * b2) + f(f(oneMinusB2 * d) * d));
        const denom = f(f(f(Math.sqrt(vi)) / bc2Sqrt) + eps);
        m[i] = mi;
        v[i] = vi;
        p[i] = f(x + f(f(negStepSize * mi) / denom));
      }
    });
  }
}
