// `ratatouille average` through the real parser: summary JSON, exit code 2 with one line on bad
// input, and no output file left behind.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { cli } from './run.js';

function ckpt(dir: string, name: string, value: number, shape = [3, 2]): string {
  const p = join(dir, name);
  const n = shape.reduce((a, b) => a * b, 1);
  writeSafetensors(p, [{ name: 'w', dtype: 'F32', shape, data: new Float32Array(n).fill(value) }]);
  return p;
}

describe('ratatouille average', () => {
  it('--json prints the summary on stdout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-cli-'));
    const a = ckpt(dir, 'a.safetensors', 1);
    const b = ckpt(dir, 'b.safetensors', 3);
    const r = await cli('average', a, b, '-o', join(dir, 'o.safetensors'), '--weights', '1,3', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.inputs).toEqual([a, b]);
    expect(s.weights).toEqual([0.25, 0.75]);
    expect(s.tensors).toBe(1);
    expect(s.bytesRead).toBe(48);
    for (const k of ['seconds', 'gbPerSec', 'peakRssBytes']) expect(typeof s[k]).toBe('number');
  });

  const bad: [string, (dir: string) => string[], RegExp][] = [
    ['no inputs', (d) => ['average', '-o', join(d, 'o.safetensors')], /missing required argument/],
    ['missing output', (d) => ['average', ckpt(d, 'a.safetensors', 1)], /required option/],
    ['unknown dtype', (d) => ['average', ckpt(d, 'a.safetensors', 1), '-o', join(d, 'o.safetensors'), '--dtype', 'f8'], /--dtype: must be one of/],
    ['bad weights', (d) => ['average', ckpt(d, 'a.safetensors', 1), '-o', join(d, 'o.safetensors'), '--weights', '1,x'], /--weights: item 2/],
    ['missing file', (d) => ['average', join(d, 'nope.safetensors'), '-o', join(d, 'o.safetensors')], /nope\.safetensors/],
    ['shape mismatch', (d) => ['average', ckpt(d, 'a.safetensors', 1), ckpt(d, 'b.safetensors', 1, [2, 3]), '-o', join(d, 'o.safetensors')], /b\.safetensors: tensor "w" has shape \[2, 3\]/],
    ['output is an input', (d) => ['average', ckpt(d, 'a.safetensors', 1), ckpt(d, 'b.safetensors', 2), '-o', join(d, 'a.safetensors')], /output is also an input/],
  ];
  for (const [what, argv, pattern] of bad) {
    it(`${what}: exit 2, one line, nothing written`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rt-cli-'));
      const args = argv(dir);
      const before = readdirSync(dir).sort();
      const r = await cli(...args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
      expect(r.stdout).toBe('');
      expect(readdirSync(dir).sort()).toEqual(before);
    });
  }
});
