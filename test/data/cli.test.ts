// `ratatouille data list/info/preview` through the real command parser.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/program.js';

const root = mkdtempSync(join(tmpdir(), 'rt-cli-'));
const cache = join(root, 'cache');
afterAll(() => rmSync(root, { recursive: true, force: true }));

let out = '';
let err = '';
beforeEach(() => {
  out = '';
  err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

describe('ratatouille data', () => {
  it('list names every built-in dataset and folder:<path>', async () => {
    expect(await runCli(['data', 'list', '--json'])).toBe(0);
    const names = (JSON.parse(out) as { name: string }[]).map((d) => d.name);
    expect(names).toEqual(['mnist', 'rotated_mnist', 'colored_mnist', 'fashion_mnist', 'rotated_fashion_mnist', 'folder:<path>']);
  });

  it('info --json gives domains, sizes and the cache file, built then hit', async () => {
    expect(await runCli(['data', 'info', 'colored_mnist', '--json', '--cache-dir', cache])).toBe(0);
    const a = JSON.parse(out);
    expect(a.domains).toEqual([
      { name: '+90%', size: 3334 },
      { name: '+80%', size: 3333 },
      { name: '-90%', size: 3333 },
    ]);
    expect(a.shape).toEqual([2, 28, 28]);
    expect(a.cache.hit).toBe(false);
    expect(existsSync(a.cache.path)).toBe(true);
    out = '';
    expect(await runCli(['data', 'info', 'colored_mnist', '--cache-dir', cache])).toBe(0);
    expect(out).toMatch(/colored_mnist \(ColoredMNIST\): 3 domains, 2 classes, input \[2, 28, 28\], 10000 samples/);
    expect(out).toMatch(/\(hit\)/);
  });

  it('preview writes a PNG grid with one row per domain', async () => {
    const file = join(root, 'rot.png');
    expect(await runCli(['data', 'preview', 'rotated_mnist', '-o', file, '-n', '5', '--cache-dir', cache])).toBe(0);
    const meta = await sharp(file).metadata();
    // 5 columns and 6 rows of 28px cells with 2px gaps, ×3
    expect([meta.width, meta.height]).toEqual([(5 * 28 + 6 * 2) * 3, (6 * 28 + 7 * 2) * 3]);
    expect(meta.format).toBe('png');
  });

  it('preview of an image folder with augmentation', async () => {
    const dir = join(root, 'imgs');
    for (const d of ['a', 'b']) {
      mkdirSync(join(dir, d, 'k'), { recursive: true });
      await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 20, b: 20 } } }).jpeg().toFile(join(dir, d, 'k', '1.jpg'));
    }
    const file = join(root, 'folder.png');
    expect(await runCli(['data', 'preview', `folder:${dir}`, '-o', file, '-n', '2', '--augment'])).toBe(0);
    const meta = await sharp(file).metadata();
    expect([meta.width, meta.height]).toEqual([Math.round((2 * 224 + 3 * 2) * 0.5), Math.round((2 * 224 + 3 * 2) * 0.5)]);
  });

  it('errors are one line with exit code 2 and leave no output file', async () => {
    const file = join(root, 'sub', 'none.png');
    expect(await runCli(['data', 'preview', 'rotated_mnist', '-o', file])).toBe(2);
    expect(err).toMatch(/^ratatouille: .*none\.png: folder .* does not exist\n$/);
    err = '';
    expect(await runCli(['data', 'info', 'fashion_mnist', '--data-dir', join(root, 'nothing-here'), '--no-cache'])).toBe(2);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/apt-get install dataset-fashion-mnist/);
    err = '';
    expect(await runCli(['data', 'info', 'imagenet'])).toBe(2);
    expect(err).toMatch(/imagenet: unknown dataset/);
    err = '';
    expect(await runCli(['data', 'info', 'mnist', '--data-seed', '-3'])).toBe(2);
    expect(readdirSync(root).filter((f) => f.endsWith('.png')).sort()).toEqual(['folder.png', 'rot.png']);
  });
});
