// On-disk cache of built tensor datasets, keyed by a content hash of (source bytes hash,
// dataset name, params, data seed, format version). One file per key, written atomically
// after a successful build, so a failed build leaves nothing behind. Format (little-endian):
//   "RTDS" | u32 version | u32 header length | header JSON | pad to 8 | uint8 images
//   | pad to 4 | int32 labels | int32 offsets (domains + 1)
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { BuiltTensors } from './mnist-family.js';

export const CACHE_FORMAT_VERSION = 1;
const MAGIC = 'RTDS';

export interface CacheKeyParts {
  readonly sourceHash: string;
  readonly name: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly dataSeed: number;
}

/** The cache folder: the option, then RATATOUILLE_CACHE, then ~/.cache/model-ratatouille. */
export function cacheDir(override?: string): string {
  return override ?? process.env.RATATOUILLE_CACHE ?? join(homedir(), '.cache', 'model-ratatouille');
}

export function cacheKey(p: CacheKeyParts): string {
  const text = JSON.stringify({ v: CACHE_FORMAT_VERSION, source: p.sourceHash, name: p.name, params: p.params, dataSeed: p.dataSeed });
  return createHash('sha256').update(text).digest('hex');
}

export function cachePath(dir: string, p: CacheKeyParts): string {
  return join(dir, 'datasets', `${p.name}-seed${p.dataSeed}-${cacheKey(p).slice(0, 16)}.rtds`);
}

interface Header {
  key: string;
  name: string;
  domains: string[];
  classes: string[];
  shape: [number, number, number];
  count: number;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

export function encodeTensors(key: string, name: string, t: BuiltTensors): Uint8Array {
  const count = t.labels.length;
  const header: Header = { key, name, domains: t.domains, classes: t.classes, shape: [...t.shape], count };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const imagesAt = align(12 + json.length, 8);
  const labelsAt = align(imagesAt + t.images.length, 4);
  const offsetsAt = labelsAt + 4 * count;
  const total = offsetsAt + 4 * t.offsets.length;
  const out = Buffer.alloc(total);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(CACHE_FORMAT_VERSION, 4);
  out.writeUInt32LE(json.length, 8);
  json.copy(out, 12);
  out.set(t.images, imagesAt);
  for (let i = 0; i < count; i++) out.writeInt32LE(t.labels[i], labelsAt + 4 * i);
  for (let i = 0; i < t.offsets.length; i++) out.writeInt32LE(t.offsets[i], offsetsAt + 4 * i);
  return out;
}

/** Decodes a cache file; null when it is not a complete, consistent file for `key` (then it is rebuilt). */
export function decodeTensors(buf: Buffer, key: string): BuiltTensors | null {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== MAGIC || buf.readUInt32LE(4) !== CACHE_FORMAT_VERSION) return null;
  const jsonLen = buf.readUInt32LE(8);
  if (12 + jsonLen > buf.length) return null;
  let h: Header;
  try {
    h = JSON.parse(buf.toString('utf8', 12, 12 + jsonLen)) as Header;
  } catch {
    return null;
  }
  if (h.key !== key || !Array.isArray(h.domains) || !Array.isArray(h.shape) || h.shape.length !== 3) return null;
  const imageBytes = h.count * h.shape[0] * h.shape[1] * h.shape[2];
  const imagesAt = align(12 + jsonLen, 8);
  const labelsAt = align(imagesAt + imageBytes, 4);
  const offsetsAt = labelsAt + 4 * h.count;
  if (buf.length !== offsetsAt + 4 * (h.domains.length + 1)) return null;
  const labels = new Int32Array(h.count);
  for (let i = 0; i < h.count; i++) labels[i] = buf.readInt32LE(labelsAt + 4 * i);
  const offsets = new Int32Array(h.domains.length + 1);
  for (let i = 0; i < offsets.length; i++) offsets[i] = buf.readInt32LE(offsetsAt + 4 * i);
  if (offsets[0] !== 0 || offsets[offsets.length - 1] !== h.count) return null;
  const images = new Uint8Array(buf.buffer, buf.byteOffset + imagesAt, imageBytes);
  return { domains: h.domains, classes: h.classes, shape: h.shape, images, labels, offsets };
}

/**
 * Returns the cached tensors for `parts`, or builds, caches and returns them. A build that
 * throws writes nothing. `dir` null disables the cache.
 */
export function cachedBuild(
  dir: string | null,
  parts: CacheKeyParts,
  build: () => BuiltTensors,
): { tensors: BuiltTensors; cache: { path: string; hit: boolean } | null } {
  if (dir === null) return { tensors: build(), cache: null };
  const path = cachePath(dir, parts);
  const key = cacheKey(parts);
  if (existsSync(path)) {
    const hit = decodeTensors(readFileSync(path), key);
    if (hit) return { tensors: hit, cache: { path, hit: true } };
  }
  const tensors = build();
  mkdirSync(join(dir, 'datasets'), { recursive: true });
  writeFileAtomic(path, encodeTensors(key, parts.name, tensors));
  return { tensors, cache: { path, hit: false } };
}
