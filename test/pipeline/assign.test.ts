// Auxiliary assignment (round robin on h, target-derived tasks left out) and fusing coefficients.
import { describe, expect, it } from 'vitest';
import { allowedTasks, assignInit, planFusing, type PoolTask } from '../../src/pipeline/assign.js';
import { datasetSource } from '../../src/pipeline/tasks.js';

const task = (name: string, source: string, n: number): PoolTask => ({ name, sources: [source], members: Array.from({ length: n }, (_, k) => `${name}/h${k}`) });

describe('auxiliary assignment', () => {
  const pool = [task('VLCS', 'vlcs', 4), task('PACS', 'pacs', 4), task('OfficeHome', 'officehome', 4), task('DomainNet', 'domainnet', 4), task('TerraIncognita', 'terra', 4)];
  it('follows the spec example: target OfficeHome, 20 runs use every (folder, run) pair once', () => {
    const tasks = allowedTasks(pool, 'officehome');
    expect(tasks.map((t) => t.name)).toEqual(['DomainNet', 'PACS', 'TerraIncognita', 'VLCS']);
    const used = new Set<string>();
    let foundation = 0;
    for (let h = 0; h < 20; h++) {
      const a = assignInit(tasks, h);
      expect(a.slot).toBe(h % 5);
      if (a.kind === 'foundation') foundation++;
      else {
        expect(a.task).toBe(tasks[a.slot - 1].name);
        expect(a.memberIndex).toBe(h % 4);
        used.add(a.member);
      }
    }
    expect(foundation).toBe(4);
    expect(used.size).toBe(16);
    expect(assignInit(tasks, 0)).toEqual({ slot: 0, kind: 'foundation' });
  });
  it('leaves out tasks built from the target images and tasks without members', () => {
    const mixed = [task('fashion-rot', 'fashion', 1), task('digits-rot', 'digits', 1), task('fashion-inv', 'fashion', 0)];
    expect(allowedTasks(mixed, datasetSource('rotated_mnist')).map((t) => t.name)).toEqual(['fashion-rot']);
    expect(allowedTasks(mixed, datasetSource('rotated_fashion_mnist')).map((t) => t.name)).toEqual(['digits-rot']);
    expect(assignInit([], 7)).toEqual({ slot: 0, kind: 'foundation' });
  });
});

describe('fusing coefficients', () => {
  const tasks = [task('a', 'x', 2), task('b', 'x', 3)];
  it('draws u like Python random.seed(runSeed); λ ∝ exp(range·u)', () => {
    // /usr/bin/python3: random.seed(12345); [random.random() for _ in range(3)]
    const u = [0.41661987254534116, 0.010169169457068361, 0.8252065092537432];
    const k = u.map((x) => Math.exp(4 * x));
    const plan = planFusing(tasks, 1, 12345, 4);
    expect(plan.featurizers).toEqual(['foundation', 'a/h1', 'b/h1']);
    plan.coefficients.forEach((c, i) => expect(c).toBeCloseTo(k[i] / (k[0] + k[1] + k[2]), 15));
    expect(plan.coefficients.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 15);
  });
  it('is uniform for range 0 and picks member h mod n per task', () => {
    const plan = planFusing(tasks, 5, 0, 0);
    expect(plan.featurizers).toEqual(['foundation', 'a/h1', 'b/h2']);
    expect(plan.coefficients).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(() => planFusing([], 0, 0, 4)).toThrow(/at least one auxiliary task/);
  });
});
