// Public surface of the trainer: jobs, running them (in process or in a worker thread), the
// files a run writes, lr schedules and input standardisation. Optimizers are in ./optim.js.
export { jobRecord, loadJobFile, lrScheduleOf, parseJob } from './job.js';
export type { ModelChoice, TrainJob, TrainJobInput } from './job.js';
export { isCheckpointStep, runJob } from './trainer.js';
export type { CheckpointScores, MetricsRecord, PhaseName, RunOptions, RunResult, TrainProgress } from './trainer.js';
export { runJobInWorker } from './worker.js';
export type { WorkerRunOptions } from './worker.js';
export { OUTPUTS, loadFeaturizer, loadFullCheckpoint, writeCheckpoint } from './checkpoint.js';
export type { DomainScores, Scores } from './run-data.js';
export { CONSTANT_LR, SCHEDULES, scheduledLr } from './schedule.js';
export type { LrSchedule, ScheduleName } from './schedule.js';
export { poolStats, prependStandardization, standardizer } from './standardize.js';
export type { InputStats } from './standardize.js';
