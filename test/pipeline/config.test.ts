import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CONFIG, parseConfig, parseSetting, resolveConfig } from '../../src/pipeline/config.js';

describe('pipeline config', () => {
  it('fills nested defaults', () => {
    const c = parseConfig({});
    expect(c.target.probe.steps).toBe(3000);
    expect(c.aux.probe.lr).toBe(1e-2);
    expect(c.target.fusing).toEqual({ runs: 2, range: 4 });
    expect(c.model.width).toBe(16);
    expect(c.foundation.source).toBe('auto');
  });
  it('refuses an unknown key, naming it', () => {
    expect(() => parseConfig({ target: { stpes: 3 } })).toThrow(/^config\.target\.stpes: unknown key$/);
  });
  it('refuses an invalid value, naming the key', () => {
    expect(() => parseConfig({ target: { steps: 0 } })).toThrow(/^config\.target\.steps: /);
    expect(() => parseConfig({ aux: { tasks: ['fashion-spin'] } })).toThrow(/^config\.aux\.tasks\.0: must be <source>-<kind>/);
    expect(() => parseConfig({ diagnostics: { alphas: [0, 0.3, 1] } })).toThrow(/^config\.diagnostics\.alphas: .*0\.5/);
  });
  it('names the file when a YAML file is at fault', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const f = join(dir, 'c.yaml');
    writeFileSync(f, 'target:\n  nHparams: -2\n');
    expect(() => resolveConfig({ file: f })).toThrow(new RegExp(`^${f.replace(/[.]/g, '\\.')}\\.target\\.nHparams: `));
    writeFileSync(f, 'workers: 3\ntarget:\n  trials: [1]\n');
    const c = resolveConfig({ preset: DEMO_CONFIG, file: f, overrides: [parseSetting('target.steps=7')] });
    expect([c.workers, c.target.trials, c.target.steps, c.target.nHparams]).toEqual([3, [1], 7, 4]);
  });
  it('parses --set values as YAML scalars and lists', () => {
    expect(parseSetting('target.testEnvs=[0, 5]')).toEqual({ target: { testEnvs: [0, 5] } });
    expect(() => parseSetting('nokey')).toThrow(/^--set: /);
  });
});
