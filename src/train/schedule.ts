// Learning-rate schedules: the lr of update t (0-based) of a run of `steps` updates, given the
// peak lr (the job's hparams.lr). One pure function; the trainer sets it on every optimizer group
// before each update, so a schedule never touches the optimizer's state and the run stays
// deterministic.

export const SCHEDULES = ['constant', 'cosine', 'linear'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

export interface LrSchedule {
  readonly name: ScheduleName;
  /** Updates 0..warmupSteps-1 ramp linearly up to the peak (update warmupSteps-1 uses the peak). */
  readonly warmupSteps: number;
}

/** The old behaviour: the peak lr throughout. */
export const CONSTANT_LR: LrSchedule = { name: 'constant', warmupSteps: 0 };

/**
 * lr of update t. After warm-up, 'cosine' is torch's CosineAnnealingLR with T_max = the remaining
 * updates and 'linear' decays linearly; both would reach 0 at update `steps`, so the last update
 * still moves the weights (a small step) and none is wasted at lr 0.
 */
export function scheduledLr(peak: number, t: number, steps: number, s: LrSchedule): number {
  if (!Number.isInteger(t) || t < 0 || t >= steps) throw new RangeError(`scheduledLr: update ${t} is outside 0..${steps - 1}`);
  if (!Number.isInteger(s.warmupSteps) || s.warmupSteps < 0 || s.warmupSteps >= steps) {
    throw new RangeError(`scheduledLr: warmupSteps must be an integer in [0, ${steps - 1}], got ${s.warmupSteps}`);
  }
  if (t < s.warmupSteps) return (peak * (t + 1)) / s.warmupSteps;
  const progress = (t - s.warmupSteps) / (steps - s.warmupSteps);
  switch (s.name) {
    case 'constant':
      return peak;
    case 'cosine':
      return peak * 0.5 * (1 + Math.cos(Math.PI * progress));
    case 'linear':
      return peak * (1 - progress);
  }
}
