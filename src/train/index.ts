// Public surface of the trainer: jobs, running them (in process or in a worker thread), and
// the files a run writes. Optimizers are in ./optim.js.
export { jobRecord, loadJobFile, parseJob } from './job.js';
export type { ModelChoice, TrainJob, TrainJobInput } from './job.js';
export { isCheckpointStep, runJob } from './trainer.js';
export type { CheckpointScores, MetricsRecord, PhaseName, RunOptions, RunResult, TrainProgress } from './trainer.js';
export { runJobInWorker } from './worker.js';
export type { WorkerRunOptions } from './worker.js';
export { OUTPUTS, loadFeaturizer, loadFullCheckpoint, writeCheckpoint } from './checkpoint.js';
export type { DomainScores, Scores } from './run-data.js';
