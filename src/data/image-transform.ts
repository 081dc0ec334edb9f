// Decodes one image file into a normalised [3, S, S] float sample: the DomainBed training
// transform (augmentation from a per-sample seed) or the test transform (resize S×S,
// normalise). sharp does decode, crop and resize (linear kernel, antialiased when shrinking,
// like PIL's bilinear); flip, colour ops and normalisation are done here.
import sharp from 'sharp';
import { InputError } from '../errors.js';
import { RandomState } from '../util/numpy-random.js';
import { colorAugment, drawAugmentParams, normalizeImagenet, toPlanar } from './augment.js';

/**
 * Fills `out` (3·size·size floats) with sample `file`. `augmentSeed` null = test transform;
 * otherwise the training augmentation drawn from RandomState(augmentSeed).
 */
export async function loadImageSample(file: string, size: number, augmentSeed: number | null, out: Float32Array): Promise<void> {
  let rgb: Buffer;
  let flip = false;
  let params = null;
  try {
    // PIL's convert('RGB'): drop alpha, expand grey to 3 channels; no EXIF rotation.
    const img = sharp(file, { failOn: 'error' });
    let pipeline = img;
    if (augmentSeed !== null) {
      const meta = await img.metadata();
      params = drawAugmentParams(new RandomState(augmentSeed >>> 0), meta.width!, meta.height!);
      flip = params.flip;
      pipeline = pipeline.extract(params.crop);
    }
    const res = await pipeline
      .resize(size, size, { fit: 'fill', kernel: 'linear' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (res.info.channels !== 3) throw new Error(`decoded to ${res.info.channels} channels`);
    rgb = res.data;
  } catch (e) {
    throw new InputError(file, `cannot decode image: ${(e as Error).message.split('\n')[0]}`);
  }
  const plane = size * size;
  toPlanar(rgb, size, size, flip, out);
  if (params) colorAugment(out, plane, params);
  normalizeImagenet(out, plane);
}
