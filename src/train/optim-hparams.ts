// Hyperparameters of the fused optimizers: their types, torch's defaults and torch's validity
// rules (plus finiteness). The native binding checks the same rules again at its boundary.

export interface SgdHyperparams {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

export interface AdamHyperparams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: decay the parameters (p *= 1 - lr*wd) instead of adding wd*p to the gradient. */
  decoupled: boolean;
  maximize: boolean;
}

/** torch.optim.SGD defaults; lr has none (torch requires it). */
export const SGD_DEFAULTS: Omit<SgdHyperparams, 'lr'> = {
  momentum: 0,
  dampening: 0,
  weightDecay: 0,
  nesterov: false,
  maximize: false,
};

/** torch.optim.Adam defaults. */
export const ADAM_DEFAULTS: AdamHyperparams = {
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  decoupled: false,
  maximize: false,
};

/** torch.optim.AdamW defaults. */
export const ADAMW_DEFAULTS: AdamHyperparams = { ...ADAM_DEFAULTS, weightDecay: 1e-2, decoupled: true };

function nonNegative(x: unknown, name: string, where: string): void {
  if (typeof x !== 'number') throw new TypeError(`${where}: ${name} must be a number`);
  if (!Number.isFinite(x) || x < 0) throw new RangeError(`${where}: ${name} must be a finite number >= 0`);
}

function boolean(x: unknown, name: string, where: string): void {
  if (typeof x !== 'boolean') throw new TypeError(`${where}: ${name} must be a boolean`);
}

function beta(x: unknown, name: string, where: string): void {
  if (typeof x !== 'number') throw new TypeError(`${where}: ${name} must be a number`);
  if (!(x >= 0 && x < 1)) throw new RangeError(`${where}: ${name} must be in [0, 1)`);
}

export function checkSgdHyperparams(h: SgdHyperparams, where: string): void {
  nonNegative(h.lr, 'lr', where);
  nonNegative(h.momentum, 'momentum', where);
  if (typeof h.dampening !== 'number') throw new TypeError(`${where}: dampening must be a number`);
  if (!Number.isFinite(h.dampening)) throw new RangeError(`${where}: dampening must be a finite number`);
  nonNegative(h.weightDecay, 'weightDecay', where);
  boolean(h.nesterov, 'nesterov', where);
  boolean(h.maximize, 'maximize', where);
  if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0))
    throw new RangeError(`${where}: nesterov momentum requires a momentum > 0 and zero dampening`);
}

export function checkAdamHyperparams(h: AdamHyperparams, where: string): void {
  nonNegative(h.lr, 'lr', where);
  beta(h.beta1, 'beta1', where);
  beta(h.beta2, 'beta2', where);
  nonNegative(h.eps, 'eps', where);
  nonNegative(h.weightDecay, 'weightDecay', where);
  boolean(h.decoupled, 'decoupled', where);
  boolean(h.maximize, 'maximize', where);
}

/** The 1-based number of an Adam update. */
export function checkAdamStep(step: number, where: string): void {
  if (!Number.isSafeInteger(step) || step < 1)
    throw new RangeError(`${where}: step must be an integer >= 1 (the number of this update)`);
}

/** Picks the hyperparameter keys out of `src` over `defaults`, so stray keys (params, ...) stay out. */
export function pickHyperparams<H extends object>(defaults: H, src: Partial<H>): H {
  const out = { ...defaults };
  for (const k of Object.keys(defaults) as (keyof H)[]) if (src[k] !== undefined) out[k] = src[k] as H[keyof H];
  return out;
}
