// The data side of the toolkit in one import: datasets by name, batches for training and
// evaluation, and the DomainBed protocol (splits, seeds, selection metrics, aggregation).
export { describeDataset, domainSize, makeTensorDataset, sampleCount } from './dataset.js';
export type { DomainDataset, FolderDataset, Shape3, TensorDataset } from './dataset.js';
export { DATASET_NAMES, listDatasets, openDataset } from './registry.js';
export type { OpenOptions } from './registry.js';
export { checkShift, createLoader } from './loader.js';
export type { Batch, BatchStream, DataLoader, IndexStreamOptions, LoaderOptions, TrainStreamOptions } from './loader.js';
export {
  HOLDOUT_FRACTION,
  accuracyOn,
  countCorrect,
  evaluateDomains,
  makeSplits,
  meanAndStandardError,
  pooledValidation,
  runSeed,
  splitDomain,
  splitIndices,
  testAccuracy,
  trainingDomains,
  trainingDomainValidation,
  trainingPools,
} from './protocol.js';
export type { Accuracy, DomainAccuracy, DomainSplit, EvaluateOptions, Predict, SeedRecord, SplitName } from './protocol.js';
export { rotateImages, rotationPlan } from './rotate.js';
export { fashionSource, loadFashionMnist, loadMnistDigits, mnistSource } from './sources.js';
export type { RawImages } from './sources.js';
export { writePreview } from './preview.js';
