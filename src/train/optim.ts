// Optimizers over persistent Float32Array parameters, updated in place by one fused native call
// per step for all parameter groups (each group its own hyperparameters and step count): SGD,
// Adam and AdamW with torch.optim semantics, M models side by side via forModels, and
// stateDict/loadStateDict for a bit-identical resume.
import { native, type AdamGroupArgs, type SgdGroupArgs } from '../../bindings/native.js';
import {
  ADAM_DEFAULTS,
  ADAMW_DEFAULTS,
  SGD_DEFAULTS,
  checkAdamHyperparams,
  checkSgdHyperparams,
  pickHyperparams,
  type AdamHyperparams,
  type SgdHyperparams,
} from './optim-hparams.js';
import { adamStepTs, sgdStepTs } from './optim-reference.js';

export * from './optim-hparams.js';
export { adamStepTs, sgdStepTs } from './optim-reference.js';

/** 'native' runs the fused kernels; 'typescript' the reference loops (cross-checks, baselines). */
export type OptimBackend = 'native' | 'typescript';

export interface OptimizerOptions {
  backend?: OptimBackend;
}

/** A parameter group as given: its tensors and any hyperparameters overriding the defaults. */
export type ParamGroupInput<H> = { params: Float32Array[] } & Partial<H>;

/** A live parameter group; `hparams` may be changed between steps (schedules). */
export interface ParamGroup<H> {
  readonly params: readonly Float32Array[];
  hparams: H;
  /** Completed steps of this group. */
  steps: number;
}

/** Optimizer state for checkpoints: copies of every state array plus the step counts. */
export interface OptimizerStateDict<H> {
  kind: 'sgd' | 'adam';
  groups: {
    hparams: H;
    steps: number;
    /** Element count of each parameter, to catch a state saved for another model. */
    sizes: number[];
    /** SGD: momentumBuffers (null before the first momentum step). Adam: expAvg, expAvgSq. */
    buffers: Record<string, Float32Array[] | null>;
  }[];
}

abstract class Optimizer<H extends object, G extends ParamGroup<H>> {
  protected readonly state: G[] = [];
  protected readonly backend: OptimBackend;

  protected constructor(
    private readonly kind: 'sgd' | 'adam',
    private readonly defaults: H,
    options: OptimizerOptions,
  ) {
    this.backend = options.backend ?? 'native';
    if (this.backend !== 'native' && this.backend !== 'typescript')
      throw new RangeError(`optimizer: backend must be 'native' or 'typescript'`);
  }

  protected abstract check(h: H, where: string): void;
  protected abstract newGroup(params: Float32Array[], hparams: H): G;
  /** One step of every group with these gradients; commits nothing if it throws. */
  protected abstract run(grads: readonly (readonly Float32Array[])[]): void;
  /** State arrays by name; a nullable one may be saved as null (no history yet). */
  protected abstract bufferNames(): { name: string; nullable: boolean }[];
  protected abstract buffers(g: G): Record<string, Float32Array[] | null>;
  protected abstract setBuffers(g: G, buffers: Record<string, Float32Array[] | null>): void;
  protected abstract clearState(g: G): void;

  protected init(params: Float32Array[] | ParamGroupInput<H>[]): void {
    const groups = params.length > 0 && params[0] instanceof Float32Array
      ? [{ params: params as Float32Array[] } as ParamGroupInput<H>]
      : (params as ParamGroupInput<H>[]);
    for (const g of groups) this.addParamGroup(g);
  }

  get groups(): readonly G[] {
    return this.state;
  }

  addParamGroup(group: ParamGroupInput<H>): void {
    const where = `${this.kind}: groups[${this.state.length}]`;
    if (!Array.isArray(group?.params)) throw new TypeError(`${where}.params must be an array of Float32Array`);
    group.params.forEach((p, i) => {
      if (!(p instanceof Float32Array)) throw new TypeError(`${where}.params[${i}] must be a Float32Array`);
    });
    const seen = new Set(this.params());
    group.params.forEach((p, i) => {
      if (seen.has(p)) throw new RangeError(`${where}.params[${i}] is already in a parameter group`);
      seen.add(p);
    });
    const h = pickHyperparams(this.defaults, group);
    this.check(h, where);
    this.state.push(this.newGroup([...group.params], h));
  }

  /** Every parameter, group by group: the order `step` expects its gradients in. */
  params(): Float32Array[] {
    return this.state.flatMap((g) => g.params);
  }

  /** One step; `grads` holds a gradient per parameter in `params()` order. */
  step(grads: readonly Float32Array[]): void {
    const total = this.state.reduce((n, g) => n + g.params.length, 0);
    if (grads.length !== total) throw new RangeError(`${this.kind}.step: got ${grads.length} gradients for ${total} parameters`);
    let at = 0;
    this.stepGroups(this.state.map((g) => grads.slice(at, (at += g.params.length))));
  }

  /** One step; `grads[g]` holds the gradients of group g (e.g. model g of forModels). */
  stepGroups(grads: readonly (readonly Float32Array[])[]): void {
    if (grads.length !== this.state.length)
      throw new RangeError(`${this.kind}.stepGroups: got ${grads.length} gradient lists for ${this.state.length} groups`);
    this.state.forEach((g, i) => {
      this.check(g.hparams, `${this.kind}: groups[${i}]`);
      if (grads[i].length !== g.params.length)
        throw new RangeError(`${this.kind}.stepGroups: groups[${i}] got ${grads[i].length} gradients for ${g.params.length} parameters`);
    });
    this.run(grads);
  }

  /** Fresh state: zero moments / no momentum history, step counts back to 0. */
  reset(): void {
    for (const g of this.state) {
      this.clearState(g);
      g.steps = 0;
    }
  }

  stateDict(): OptimizerStateDict<H> {
    const copy = (list: Float32Array[] | null) => (list ? list.map((a) => a.slice()) : null);
    return {
      kind: this.kind,
      groups: this.state.map((g) => ({
        hparams: { ...g.hparams },
        steps: g.steps,
        sizes: g.params.map((p) => p.length),
        buffers: Object.fromEntries(Object.entries(this.buffers(g)).map(([k, v]) => [k, copy(v)])),
      })),
    };
  }

  /** Restores a stateDict of an optimizer over the same parameter shapes; checks all before changing any. */
  loadStateDict(sd: OptimizerStateDict<H>): void {
    const where = `${this.kind}.loadStateDict`;
    if (sd?.kind !== this.kind) throw new RangeError(`${where}: state is for '${sd?.kind}', not '${this.kind}'`);
    if (!Array.isArray(sd.groups) || sd.groups.length !== this.state.length)
      throw new RangeError(`${where}: state has ${sd.groups?.length} groups, optimizer has ${this.state.length}`);
    sd.groups.forEach((s, gi) => {
      const at = `${where}: groups[${gi}]`;
      const params = this.state[gi].params;
      if (!Number.isSafeInteger(s.steps) || s.steps < 0) throw new RangeError(`${at}.steps must be an integer >= 0`);
      this.check(pickHyperparams(this.defaults, s.hparams), at + '.hparams');
      if (!Array.isArray(s.sizes) || s.sizes.length !== params.length || s.sizes.some((n, i) => n !== params[i].length))
        throw new RangeError(`${at}: saved parameter sizes [${s.sizes}] differ from [${params.map((p) => p.length)}]`);
      for (const { name, nullable } of this.bufferNames()) {
        const list = s.buffers?.[name];
        if (list === null && nullable) continue;
        if (!Array.isArray(list) || list.length !== params.length)
          throw new RangeError(`${at}.buffers.${name} must hold ${params.length} Float32Arrays`);
        list.forEach((a, i) => {
          if (!(a instanceof Float32Array) || a.length !== params[i].length)
            throw new RangeError(`${at}.buffers.${name}[${i}] must be a Float32Array of ${params[i].length} elements`);
        });
      }
    });
    sd.groups.forEach((s, gi) => {
      const g = this.state[gi];
      g.hparams = pickHyperparams(this.defaults, s.hparams);
      g.steps = s.steps;
      this.setBuffers(g, s.buffers);
    });
  }
}

/** One param group per model for `forModels`: `hparams` shared by all, or one entry per model. */
function groupsForModels<H>(kind: string, models: readonly (readonly Float32Array[])[], hparams: Partial<H> | Partial<H>[]): ParamGroupInput<H>[] {
  const per = Array.isArray(hparams) ? hparams : models.map(() => hparams);
  if (per.length !== models.length) throw new RangeError(`${kind}.forModels: ${per.length} hparams for ${models.length} models`);
  return models.map((params, i) => ({ ...per[i], params: [...params] }) as ParamGroupInput<H>);
}

function copyInto(dst: Float32Array[] | null, src: Float32Array[]): Float32Array[] {
  const out = dst ?? src.map((a) => new Float32Array(a.length));
  src.forEach((a, i) => out[i].set(a));
  return out;
}

export interface SgdGroup extends ParamGroup<SgdHyperparams> {
  /** null until the first step with momentum (torch's "buffer is None"). */
  momentumBuffers: Float32Array[] | null;
}

export class SGD extends Optimizer<SgdHyperparams, SgdGroup> {
  /** `params`: one tensor list, or groups with their own hyperparameters over `defaults`. */
  constructor(
    params: Float32Array[] | ParamGroupInput<SgdHyperparams>[],
    defaults: Partial<SgdHyperparams> = {},
    options: OptimizerOptions = {},
  ) {
    super('sgd', { lr: undefined as unknown as number, ...SGD_DEFAULTS, ...defaults }, options);
    this.init(params);
  }

  /** One group per model, all stepped by one native call; `hparams` shared or one per model. */
  static forModels(
    models: readonly (readonly Float32Array[])[],
    hparams: Partial<SgdHyperparams> | Partial<SgdHyperparams>[],
    options: OptimizerOptions = {},
  ): SGD {
    return new SGD(groupsForModels('sgd', models, hparams), {}, options);
  }

  protected check(h: SgdHyperparams, where: string): void {
    checkSgdHyperparams(h, where);
  }
  protected newGroup(params: Float32Array[], hparams: SgdHyperparams): SgdGroup {
    return { params, hparams, steps: 0, momentumBuffers: null };
  }
  protected run(grads: readonly (readonly Float32Array[])[]): void {
    const fresh = this.state.map((g) =>
      g.hparams.momentum !== 0 && g.momentumBuffers === null ? g.params.map((p) => new Float32Array(p.length)) : null,
    );
    const args: SgdGroupArgs[] = this.state.map((g, i) => ({
      ...g.hparams,
      params: g.params as Float32Array[],
      grads: grads[i] as Float32Array[],
      momentumBuffers: fresh[i] ?? g.momentumBuffers,
      firstStep: fresh[i] !== null,
    }));
    if (this.backend === 'native') native().sgdStep(args);
    else sgdStepTs(args);
    this.state.forEach((g, i) => {
      if (fresh[i]) g.momentumBuffers = fresh[i];
      g.steps++;
    });
  }
  protected bufferNames() {
    return [{ name: 'momentumBuffers', nullable: true }];
  }
  protected buffers(g: SgdGroup): Record<string, Float32Array[] | null> {
    return { momentumBuffers: g.momentumBuffers };
  }
  protected setBuffers(g: SgdGroup, b: Record<string, Float32Array[] | null>): void {
    g.momentumBuffers = b.momentumBuffers ? copyInto(g.momentumBuffers, b.momentumBuffers) : null;
  }
  protected clearState(g: SgdGroup): void {
    g.momentumBuffers = null;
  }
}

export interface AdamGroup extends ParamGroup<AdamHyperparams> {
  expAvg: Float32Array[];
  expAvgSq: Float32Array[];
}

export class Adam extends Optimizer<AdamHyperparams, AdamGroup> {
  constructor(
    params: Float32Array[] | ParamGroupInput<AdamHyperparams>[],
    defaults: Partial<AdamHyperparams> = {},
    options: OptimizerOptions = {},
  ) {
    super('adam', { ...(defaults.decoupled ? ADAMW_DEFAULTS : ADAM_DEFAULTS), ...defaults }, options);
    this.init(params);
  }

  /** One group per model, all stepped by one native call; `hparams` shared or one per model. */
  static forModels<T extends Adam>(
    this: new (p: ParamGroupInput<AdamHyperparams>[], d?: Partial<AdamHyperparams>, o?: OptimizerOptions) => T,
    models: readonly (readonly Float32Array[])[],
    hparams: Partial<AdamHyperparams> | Partial<AdamHyperparams>[] = {},
    options: OptimizerOptions = {},
  ): T {
    return new this(groupsForModels('adam', models, hparams), {}, options);
  }

  protected check(h: AdamHyperparams, where: string): void {
    checkAdamHyperparams(h, where);
  }
  protected newGroup(params: Float32Array[], hparams: AdamHyperparams): AdamGroup {
    const zeros = () => params.map((p) => new Float32Array(p.length));
    return { params, hparams, steps: 0, expAvg: zeros(), expAvgSq: zeros() };
  }
  protected run(grads: readonly (readonly Float32Array[])[]): void {
    const args: AdamGroupArgs[] = this.state.map((g, i) => ({
      ...g.hparams,
      params: g.params as Float32Array[],
      grads: grads[i] as Float32Array[],
      expAvg: g.expAvg,
      expAvgSq: g.expAvgSq,
      step: g.steps + 1,
    }));
    if (this.backend === 'native') native().adamStep(args);
    else adamStepTs(args);
    for (const g of this.state) g.steps++;
  }
  protected bufferNames() {
    return [
      { name: 'expAvg', nullable: false },
      { name: 'expAvgSq', nullable: false },
    ];
  }
  protected buffers(g: AdamGroup): Record<string, Float32Array[] | null> {
    return { expAvg: g.expAvg, expAvgSq: g.expAvgSq };
  }
  protected setBuffers(g: AdamGroup, b: Record<string, Float32Array[] | null>): void {
    copyInto(g.expAvg, b.expAvg!);
    copyInto(g.expAvgSq, b.expAvgSq!);
  }
  protected clearState(g: AdamGroup): void {
    for (const a of [...g.expAvg, ...g.expAvgSq]) a.fill(0);
  }
}

/** Adam with decoupled weight decay (torch.optim.AdamW defaults: weightDecay 1e-2). */
export class AdamW extends Adam {
  constructor(
    params: Float32Array[] | ParamGroupInput<AdamHyperparams>[],
    defaults: Partial<AdamHyperparams> = {},
    options: OptimizerOptions = {},
  ) {
    super(params, { ...ADAMW_DEFAULTS, ...defaults }, options);
  }
}
