// Where everything of a pipeline run lives under its run directory. One function per artefact so
// stages, resumption and reports agree on paths:
//   config.json, foundation/{train,featurizer.safetensors}, aux/<task>/{probe,h<k>}, aux/pool.json,
//   targets/<dataset>/env<e>/trial<t>/{probe,runs/h<h>-<init>}, selections/..., results.json, report/
import { join } from 'node:path';

export type SweepName = 'soups' | 'ratatouille' | 'fusing';

/** A dataset name as one safe path segment (`folder:/x/y` -> `folder__x_y`). */
const segment = (dataset: string) => dataset.replace(/[^A-Za-z0-9_.-]/g, '_');

export class RunLayout {
  constructor(readonly root: string) {}

  get config() {
    return join(this.root, 'config.json');
  }
  get foundationDir() {
    return join(this.root, 'foundation');
  }
  /** The pretraining run (a trainer outDir). */
  get foundationRun() {
    return join(this.foundationDir, 'train');
  }
  /** The foundation's featurizer.* tensors: slot 0 of every sweep. */
  get foundationFeaturizer() {
    return join(this.foundationDir, 'featurizer.safetensors');
  }
  auxTaskDir(task: string) {
    return join(this.root, 'aux', task);
  }
  auxProbe(task: string) {
    return join(this.auxTaskDir(task), 'probe');
  }
  auxRun(task: string, k: number) {
    return join(this.auxTaskDir(task), `h${k}`);
  }
  /** A pool member's featurizer (the run's last step). */
  auxFeaturizer(task: string, k: number) {
    return join(this.auxRun(task, k), 'featurizer.safetensors');
  }
  get poolManifest() {
    return join(this.root, 'aux', 'pool.json');
  }
  targetDir(dataset: string, env: number, trial: number) {
    return join(this.root, 'targets', segment(dataset), `env${env}`, `trial${trial}`);
  }
  targetProbe(dataset: string, env: number, trial: number) {
    return join(this.targetDir(dataset, env, trial), 'probe');
  }
  /** Runs are named by hparams seed and init, so a Ratatouille slot-0 run is the Soups run of the same h. */
  targetRun(dataset: string, env: number, trial: number, h: number, init: string) {
    return join(this.targetDir(dataset, env, trial), 'runs', `h${h}-${init}`);
  }
  fusedFeaturizer(dataset: string, env: number, trial: number, h: number) {
    return join(this.targetDir(dataset, env, trial), 'fused', `h${h}.safetensors`);
  }
  selectionDir(dataset: string, env: number, trial: number | 'dagger') {
    return join(this.root, 'selections', segment(dataset), `env${env}`, trial === 'dagger' ? 'dagger' : `trial${trial}`);
  }
  get sweepManifest() {
    return join(this.root, 'sweeps.json');
  }
  get results() {
    return join(this.root, 'results.json');
  }
  get reportDir() {
    return join(this.root, 'report');
  }
}
