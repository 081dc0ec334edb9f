// DomainBed's training augmentation for image folders, as torchvision defines it:
// RandomResizedCrop(224, scale 0.7–1, ratio 3/4–4/3) → RandomHorizontalFlip(0.5) →
// ColorJitter(0.3, 0.3, 0.3, 0.3) in a random order → RandomGrayscale(0.1) → ImageNet
// normalisation. Parameters are drawn from a per-sample RandomState in torchvision's order;
// the pixel ops follow torchvision's float-tensor functions (clamp to [0, 1] after each).
import type { RandomState } from '../util/numpy-random.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];
export const CROP_SCALE: readonly [number, number] = [0.7, 1.0];
export const CROP_RATIO: readonly [number, number] = [3 / 4, 4 / 3];
export const JITTER = 0.3;
export const GRAYSCALE_P = 0.1;
const GRAY = [0.2989, 0.587, 0.114]; // torchvision rgb_to_grayscale

export interface CropBox {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

export interface AugmentParams {
  readonly crop: CropBox;
  readonly flip: boolean;
  /** Order of brightness (0), contrast (1), saturation (2), hue (3). */
  readonly order: readonly number[];
  readonly brightness: number;
  readonly contrast: number;
  readonly saturation: number;
  readonly hue: number;
  readonly grayscale: boolean;
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision RandomResizedCrop.get_params: 10 tries at a random area/aspect, then a centre crop. */
export function randomResizedCropBox(rs: RandomState, width: number, height: number, scale = CROP_SCALE, ratio = CROP_RATIO): CropBox {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rs.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rs.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rs.randint(0, height - h + 1);
      const left = rs.randint(0, width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = roundHalfEven(w / ratio[0]);
  else if (inRatio > ratio[1]) w = roundHalfEven(h * ratio[1]);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** All random parameters of one training sample, drawn in the order torchvision's Compose draws them. */
export function drawAugmentParams(rs: RandomState, width: number, height: number): AugmentParams {
  const crop = randomResizedCropBox(rs, width, height);
  const flip = rs.randomSample() < 0.5;
  const order = Array.from(rs.permutation(4));
  const brightness = rs.uniform(1 - JITTER, 1 + JITTER);
  const contrast = rs.uniform(1 - JITTER, 1 + JITTER);
  const saturation = rs.uniform(1 - JITTER, 1 + JITTER);
  const hue = rs.uniform(-JITTER, JITTER);
  const grayscale = rs.randomSample() < GRAYSCALE_P;
  return { crop, flip, order, brightness, contrast, saturation, hue, grayscale };
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Interleaved RGB uint8 (HWC) → planar float [0, 1] (CHW), mirrored left-right when `flip`. */
export function toPlanar(rgb: Uint8Array, height: number, width: number, flip: boolean, out: Float32Array): void {
  const plane = height * width;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = 3 * (y * width + (flip ? width - 1 - x : x));
      const d = y * width + x;
      out[d] = rgb[s] / 255;
      out[plane + d] = rgb[s + 1] / 255;
      out[2 * plane + d] = rgb[s + 2] / 255;
    }
  }
}

function blendWithConstant(img: Float32Array, factor: number, constant: number): void {
  const c = (1 - factor) * constant;
  for (let i = 0; i < img.length; i++) img[i] = clamp01(factor * img[i] + c);
}

function meanGray(img: Float32Array, plane: number): number {
  let s = 0;
  for (let i = 0; i < plane; i++) s += GRAY[0] * img[i] + GRAY[1] * img[plane + i] + GRAY[2] * img[2 * plane + i];
  return s / plane;
}

function adjustSaturation(img: Float32Array, plane: number, factor: number): void {
  for (let i = 0; i < plane; i++) {
    const r = img[i];
    const g = img[plane + i];
    const b = img[2 * plane + i];
    const gray = (1 - factor) * (GRAY[0] * r + GRAY[1] * g + GRAY[2] * b);
    img[i] = clamp01(factor * r + gray);
    img[plane + i] = clamp01(factor * g + gray);
    img[2 * plane + i] = clamp01(factor * b + gray);
  }
}

/** torchvision adjust_hue on float tensors: RGB → HSV, h = (h + factor) mod 1, back to RGB. */
function adjustHue(img: Float32Array, plane: number, factor: number): void {
  for (let i = 0; i < plane; i++) {
    const r = img[i];
    const g = img[plane + i];
    const b = img[2 * plane + i];
    const maxc = Math.max(r, g, b);
    const minc = Math.min(r, g, b);
    const cr = maxc - minc;
    const eq = cr === 0;
    const s = cr / (eq ? 1 : maxc);
    const div = eq ? 1 : cr;
    const rc = (maxc - r) / div;
    const gc = (maxc - g) / div;
    const bc = (maxc - b) / div;
    let h: number;
    if (maxc === r) h = bc - gc;
    else if (maxc === g) h = 2 + rc - bc;
    else h = 4 + gc - rc;
    h = (((h / 6 + 1) % 1) + factor) % 1;
    if (h < 0) h += 1; // Python/torch `%` result takes the divisor's sign
    const v = maxc;
    const h6 = h * 6;
    const k = Math.floor(h6);
    const fr = h6 - k;
    const p = clamp01(v * (1 - s));
    const q = clamp01(v * (1 - s * fr));
    const t = clamp01(v * (1 - s * (1 - fr)));
    const sector = k % 6;
    // (r, g, b) per sector: (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q); no per-pixel arrays
    img[i] = sector === 0 || sector === 5 ? v : sector === 1 ? q : sector === 4 ? t : p;
    img[plane + i] = sector === 1 || sector === 2 ? v : sector === 0 ? t : sector === 3 ? q : p;
    img[2 * plane + i] = sector === 3 || sector === 4 ? v : sector === 2 ? t : sector === 5 ? q : p;
  }
}

function toGrayscale(img: Float32Array, plane: number): void {
  for (let i = 0; i < plane; i++) {
    const g = GRAY[0] * img[i] + GRAY[1] * img[plane + i] + GRAY[2] * img[2 * plane + i];
    img[i] = img[plane + i] = img[2 * plane + i] = g;
  }
}

/** ColorJitter (in `p.order`) and RandomGrayscale on a planar RGB float image in [0, 1], in place. */
export function colorAugment(img: Float32Array, plane: number, p: AugmentParams): void {
  for (const op of p.order) {
    if (op === 0) blendWithConstant(img, p.brightness, 0);
    else if (op === 1) blendWithConstant(img, p.contrast, meanGray(img, plane));
    else if (op === 2) adjustSaturation(img, plane, p.saturation);
    else adjustHue(img, plane, p.hue);
  }
  if (p.grayscale) toGrayscale(img, plane);
}

/** (x - mean) / std per channel, in place (transforms.Normalize with ImageNet statistics). */
export function normalizeImagenet(img: Float32Array, plane: number): void {
  for (let c = 0; c < 3; c++) {
    const m = IMAGENET_MEAN[c];
    const inv = 1 / IMAGENET_STD[c];
    for (let i = c * plane; i < (c + 1) * plane; i++) img[i] = (img[i] - m) * inv;
  }
}
