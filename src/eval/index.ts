// Evaluation in one import: predictors (ONNX files, our models' weight maps), accuracy per
// domain and split by the DomainBed protocol or the MNIST holdout, and prediction disagreement.
export { asPredict, checkCompatible, predictedClasses, toPredict } from './predictor.js';
export type { BatchShape, PredictLike, Predictor } from './predictor.js';
export { loadOnnxClassifier } from './onnx-classifier.js';
export type { LoadOptions, OnnxClassifier } from './onnx-classifier.js';
export { weightsPredictor } from './weights.js';
export type { WeightsPredictor } from './weights.js';
export { checkTestEnvs, DEFAULT_EVAL_BATCH, evaluate, evaluateOnnx, evaluateWeights, usesHoldout } from './evaluate.js';
export type { DomainEvalResult, DomainResult, EvalOptions, EvalResult, HoldoutEvalResult, Selection } from './evaluate.js';
export { disagreementOf, predictClasses, predictionDisagreement } from './disagreement.js';
export type { Disagreement } from './disagreement.js';
export { formatEvalResult } from './report.js';
