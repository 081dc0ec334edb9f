// An exponential moving average of the weights along one run (Polyak averaging), the in-run cousin
// of the averages the pipeline takes across runs. Debiased as Adam debiases its moments: after t
// updates it weighs only the weights those updates produced, w_1 alone after the first, so early
// checkpoints are not dragged towards the initialisation. Buffers (BatchNorm running statistics)
// are averaged like parameters.
import { cloneParams, copyParams, type Params } from './checkpoint.js';

export class WeightEma {
  private readonly avg: Params;
  private readonly scratch: Params;
  private updates = 0;

  constructor(
    private readonly params: Params,
    readonly decay: number,
  ) {
    if (!(decay > 0 && decay < 1)) throw new RangeError(`WeightEma: decay must be in (0, 1), got ${decay}`);
    this.avg = cloneParams(params);
    this.scratch = cloneParams(params);
  }

  /** Folds in the current weights (call after each update). */
  update(): void {
    this.updates++;
    // ema_t = d·ema_{t-1} + (1-d)·w_t started from 0 and divided by 1-d^t equals this running
    // form with rate (1-d)/(1-d^t), which is 1 at t = 1.
    const rate = (1 - this.decay) / (1 - this.decay ** this.updates);
    for (const [k, w] of this.params) {
      const a = this.avg.get(k)!;
      for (let i = 0; i < w.length; i++) a[i] += rate * (w[i] - a[i]);
    }
  }

  /** Runs `fn` with the averaged weights in the live arrays (which the sessions read), then restores them. */
  async withAverage<T>(fn: () => Promise<T> | T): Promise<T> {
    copyParams(this.scratch, this.params);
    copyParams(this.params, this.avg);
    try {
      return await fn();
    } finally {
      copyParams(this.params, this.scratch);
    }
  }
}
