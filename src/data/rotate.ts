// Bilinear rotation of uint8 images, counter-clockwise about the centre, zero fill, no
// expansion: the same sampling as torch `affine_grid` + `grid_sample` (align_corners=False)
// with theta [[cos, -sin, 0], [sin, cos, 0]], computed in float32 like torch, then rounded
// half-to-even to uint8 (torch.round). test/data/rotate.test.ts checks it against torch.

const f = Math.fround;

/** Per-output-pixel source indices (-1 = outside, contributes 0) and bilinear weights for one angle. */
export interface RotationPlan {
  readonly height: number;
  readonly width: number;
  readonly idx: Int32Array; // 4 per pixel: nw, ne, sw, se
  readonly w: Float32Array; // 4 per pixel
}

/** torch.linspace(-1, 1, n) * (n - 1) / n in float32 (affine_grid's base grid without align_corners). */
function baseCoords(n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 1) return out; // linspace(-1, 1, 1) = [-1], times 0 / 1
  const step = f(2 / (n - 1));
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) {
    // torch's linspace fills the two halves from either end, which keeps it symmetric
    const v = i < half ? f(-1 + f(step * i)) : f(1 - f(step * (n - 1 - i)));
    out[i] = f(f(v * (n - 1)) / n);
  }
  return out;
}

export function rotationPlan(angleDeg: number, height: number, width: number): RotationPlan {
  const a = (angleDeg * Math.PI) / 180;
  const c = f(Math.cos(a));
  const s = f(Math.sin(a));
  const xs = baseCoords(width);
  const ys = baseCoords(height);
  const n = height * width;
  const idx = new Int32Array(4 * n);
  const w = new Float32Array(4 * n);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      const gx = f(f(c * xs[j]) + f(-s * ys[i]));
      const gy = f(f(s * xs[j]) + f(c * ys[i]));
      const ix = f(f(f(f(gx + 1) * width) - 1) / 2);
      const iy = f(f(f(f(gy + 1) * height) - 1) / 2);
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const tx = f(ix - x0);
      const ty = f(iy - y0);
      const ux = f(x0 + 1 - ix);
      const uy = f(y0 + 1 - iy);
      const corners: [number, number, number][] = [
        [x0, y0, f(ux * uy)],
        [x0 + 1, y0, f(tx * uy)],
        [x0, y0 + 1, f(ux * ty)],
        [x0 + 1, y0 + 1, f(tx * ty)],
      ];
      const p = 4 * (i * width + j);
      for (let k = 0; k < 4; k++) {
        const [x, y, wk] = corners[k];
        const inside = x >= 0 && x < width && y >= 0 && y < height;
        idx[p + k] = inside ? y * width + x : -1;
        w[p + k] = inside ? wk : 0;
      }
    }
  }
  return { height, width, idx, w };
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Rotates `count` single-channel images of the plan's size from `src` into `dst` (both uint8,
 * image-major). `dst` may not alias `src`.
 */
export function rotateImages(plan: RotationPlan, src: Uint8Array, dst: Uint8Array, count: number): void {
  const n = plan.height * plan.width;
  const { idx, w } = plan;
  for (let im = 0; im < count; im++) {
    const o = im * n;
    for (let p = 0; p < n; p++) {
      const q = 4 * p;
      let acc = 0;
      // float32 accumulation in the order grid_sample sums nw, ne, sw, se
      for (let k = 0; k < 4; k++) {
        const s = idx[q + k];
        if (s >= 0) acc = f(acc + f(src[o + s] * w[q + k]));
      }
      const r = roundHalfEven(acc);
      dst[o + p] = r < 0 ? 0 : r > 255 ? 255 : r;
    }
  }
}
