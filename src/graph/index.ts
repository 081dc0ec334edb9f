// Public surface of the graph engine: models, their ONNX training/forward/export graphs, and the
// onnxruntime-node sessions that run them. Trainers import from here.
export type { CompiledGraph, MaskInput, TrainingGraph, TrainingGraphOptions } from './compile.js';
export { LOGITS } from './compile.js';
export { initParam, initParams, Rng } from './init.js';
export type { ParamGroup, ParamInit, ParamSpec } from './ir.js';
export type { Model, ModelSpec } from './models/index.js';
export { buildModel } from './models/index.js';
export { fillDropoutMask } from './ops/dropout.js';
export type { SessionOptions, StepResult } from './session.js';
export { createSession, ForwardSession, ortVersion, TrainingSession } from './session.js';
export type { Tuning } from './op.js';
export { DEFAULT_TUNING } from './op.js';
export type { ProfileEntry, ProfileSummary } from './profile.js';
export { summarizeProfile, takeProfile } from './profile.js';
export type { MultiModel } from './models/multi.js';
export { MEMBER_LOSSES, RECOMMENDED_MEMBERS_PER_GRAPH } from './models/multi.js';
export type { ImportedModel, ImportOptions } from './import.js';
export { importOnnxModel } from './import.js';
export type { MultiStepResult } from './multi-session.js';
export { MultiTrainingSession } from './multi-session.js';
export type { ReplicaPlan } from './replicas.js';
export { createTrainingSession, macsPerExample, MIN_MACS_PER_PARAM, MIN_ROWS_PER_REPLICA, planReplicas, ReplicatedTrainingSession } from './replicas.js';
export { timeTrainingStep } from './bench.js';
export type { StepTiming } from './bench.js';
