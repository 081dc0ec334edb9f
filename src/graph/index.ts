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
export { createSession, ForwardSession, TrainingSession } from './session.js';
export { timeTrainingStep } from './bench.js';
export type { StepTiming } from './bench.js';
