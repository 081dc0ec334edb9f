// `ratatouille eval` through the real command parser: results on the MNIST holdout and on a
// domain dataset equal the API's, and each bad input is one line on stderr, exit code 2, and
// nothing on stdout.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdoutSplit } from '../../src/data/holdout.js';
import { createLoader, evaluateDomains, makeSplits, openDataset, type TensorDataset } from '../../src/data/index.js';
import { loadOnnxClassifier, asPredict } from '../../src/eval/index.js';
import { cli } from '../cli/run.js';
import { correctOf, referenceClasses, tinyModel, writeModel } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-eval-cli-'));
const cache = join(dir, 'cache');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const digits = tinyModel(1, 10);
const colored = tinyModel(2, 2);
let digitsFile: string;
let coloredFile: string;
beforeAll(() => {
  digitsFile = writeModel(dir, 'digits.onnx', digits.model.exportGraph(digits.weights).bytes);
  coloredFile = writeModel(dir, 'colored.onnx', colored.model.exportGraph(colored.weights).bytes);
});

/** Runs eval expecting a usage error: exit 2, one stderr line naming `where`, empty stdout. */
async function expectOneLineError(args: string[], where: string, problem: RegExp) {
  const r = await cli('eval', ...args, '--cache-dir', cache);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(where);
  expect(lines[0]).toMatch(problem);
}

describe('ratatouille eval', () => {
  it('prints the MNIST holdout test and train accuracy (--json equals a direct computation)', async () => {
    const r = await cli('eval', '--model', digitsFile, '--data', 'mnist', '--data-seed', '3', '--threads', '1', '--json', '--cache-dir', cache);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ model: digitsFile, protocol: 'holdout', dataset: 'mnist', dataSeed: 3, batch: 256, images: 10000 });
    const ds = (await openDataset('mnist', { cacheDir: cache, dataSeed: 3 })) as TensorDataset;
    const { test, train } = holdoutSplit(10000, 2000, 3);
    const cTest = correctOf(await referenceClasses(digits.model, digits.weights, ds, test), ds, test);
    expect(j.test).toEqual({ correct: cTest, total: 2000, acc: cTest / 2000 });
    expect(j.train.total).toBe(8000);

    const text = await cli('eval', '--model', digitsFile, '--data', 'mnist', '--data-seed', '3', '--cache-dir', cache);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`test   ${((100 * cTest) / 2000).toFixed(2)}% (${cTest}/2000)`);
  });

  it('prints per-domain in/out/full and the selection metrics, as evaluateDomains computes them', async () => {
    const r = await cli('eval', '--model', coloredFile, '--data', 'colored_mnist', '--test-env', '2', '--trial-seed', '1', '--batch', '500', '--json', '--cache-dir', cache);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const ds = await openDataset('colored_mnist', { cacheDir: cache });
    const model = await loadOnnxClassifier(coloredFile);
    const loader = createLoader(ds);
    const ref = await evaluateDomains(loader, makeSplits(ds, 1), asPredict(model));
    await loader.close();
    await model.release();
    expect(j.seeds).toEqual({ dataSeed: 0, trialSeed: 1 });
    expect(j.domains.map((d: { domain: string; in: unknown; out: unknown; full: unknown }) => ({ domain: d.domain, in: d.in, out: d.out, full: d.full }))).toEqual(ref);
    expect(j.selection.trainingDomainValidation).toBeCloseTo((ref[0].out.acc + ref[1].out.acc) / 2, 12);
    expect(j.selection.tests).toEqual([{ env: 2, domain: '-90%', in: ref[2].in.acc, full: ref[2].full.acc }]);

    const text = await cli('eval', '--model', coloredFile, '--data', 'colored_mnist', '--test-env', '2', '--trial-seed', '1', '--cache-dir', cache);
    expect(text.stdout).toMatch(/2 -90% \[test\]/);
    expect(text.stdout).toContain(`test env 2 (-90%): ${(100 * ref[2].in.acc).toFixed(2)}% in-split`);
  });

  it('rejects a file that is not an ONNX model, and a missing one', async () => {
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, 'this is not a protobuf model\n');
    await expectOneLineError(['--model', junk, '--data', 'mnist'], junk, /not a loadable ONNX model/);
    await expectOneLineError(['--model', join(dir, 'missing.onnx'), '--data', 'mnist'], 'missing.onnx', /no such file/);
  });

  it('rejects a model whose channels or classes do not fit the dataset', async () => {
    await expectOneLineError(['--model', digitsFile, '--data', 'colored_mnist'], digitsFile, /takes 1-channel images .* colored_mnist has 2-channel/);
    const twoCh10 = tinyModel(2, 10);
    const f = writeModel(dir, 'two-ten.onnx', twoCh10.model.exportGraph(twoCh10.weights).bytes);
    await expectOneLineError(['--model', f, '--data', 'colored_mnist'], f, /outputs 10 classes but colored_mnist has 2/);
  });

  it('rejects a graph that takes its weights as inputs', async () => {
    const f = writeModel(dir, 'forward.onnx', digits.model.forwardGraph().bytes);
    await expectOneLineError(['--model', f, '--data', 'mnist'], f, /has \d+ inputs \(x, featurizer\.conv1\.weight/);
  });

  it('rejects a test env out of range, and test envs on a single-domain dataset', async () => {
    await expectOneLineError(['--model', coloredFile, '--data', 'colored_mnist', '--test-env', '3'], '--test-env', /3 is out of range: colored_mnist has domains 0\.\.2/);
    await expectOneLineError(['--model', digitsFile, '--data', 'mnist', '--test-env', '0'], '--test-env', /single domain/);
    await expectOneLineError(['--model', digitsFile, '--data', 'mnist', '--batch', '0'], '--batch', /integer in \[1,/);
  });
});
