// Image-folder datasets laid out as root/<domain>/<class>/<image> (DomainBed's
// MultipleEnvironmentImageFolder): domains, classes and files sorted like torchvision's
// ImageFolder. Every file's header is decoded once at scan time; undecodable files are
// skipped and reported (or fatal with `strict`). Empty folders and class sets that differ
// between domains are one-line errors naming the folder.
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { InputError } from '../errors.js';
import type { FolderDataset } from './dataset.js';
import { offsetsFromSizes } from './dataset.js';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff']);
export const DEFAULT_IMAGE_SIZE = 224;

export interface FolderScanOptions {
  /** Throw on the first undecodable image instead of skipping it. */
  readonly strict?: boolean;
  /** Side of the square model input (DomainBed: 224). */
  readonly imageSize?: number;
}

/** The visible entries of `dir` (no dotfiles), sorted; an unreadable folder is an InputError. */
function listVisible(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new InputError(dir, `cannot list folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return names.filter((n) => !n.startsWith('.')).sort();
}

function subdirs(dir: string): string[] {
  return listVisible(dir).filter((n) => statSync(join(dir, n)).isDirectory());
}

function imageFiles(dir: string): string[] {
  return listVisible(dir)
    .filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase()) && statSync(join(dir, n)).isFile())
    .map((n) => join(dir, n));
}

/** Reads each file's header with sharp (a few at a time); returns the reason a file is unusable, or null. */
async function checkImages(files: string[], concurrency = 8): Promise<(string | null)[]> {
  const out: (string | null)[] = new Array(files.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      try {
        const m = await sharp(files[i]).metadata();
        if (!m.width || !m.height) out[i] = 'no image size in header';
      } catch (e) {
        out[i] = (e as Error).message.split('\n')[0];
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return out;
}

export async function scanImageFolder(rootArg: string, opts: FolderScanOptions = {}): Promise<FolderDataset> {
  const root = resolve(rootArg);
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {
    /* reported below */
  }
  if (!isDir) throw new InputError(rootArg, 'not a folder (expected root/<domain>/<class>/<image>)');
  const domains = subdirs(root);
  if (domains.length === 0) throw new InputError(root, 'no domain folders (expected root/<domain>/<class>/<image>)');

  let classes: string[] | null = null;
  const files: string[] = [];
  const labels: number[] = [];
  const sizes: number[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (const domain of domains) {
    const ddir = join(root, domain);
    const dclasses = subdirs(ddir);
    if (dclasses.length === 0) throw new InputError(ddir, 'empty domain folder (no class folders)');
    if (classes === null) classes = dclasses;
    else if (dclasses.join('\0') !== classes.join('\0')) {
      const missing = classes.filter((c) => !dclasses.includes(c));
      const extra = dclasses.filter((c) => !classes!.includes(c));
      throw new InputError(
        ddir,
        `class folders differ from ${join(root, domains[0])}` +
          `${missing.length ? `; missing ${missing.join(', ')}` : ''}${extra.length ? `; extra ${extra.join(', ')}` : ''}`,
      );
    }
    let domainCount = 0;
    for (let c = 0; c < dclasses.length; c++) {
      const cdir = join(ddir, dclasses[c]);
      const cfiles = imageFiles(cdir);
      if (cfiles.length === 0) throw new InputError(cdir, `empty class folder (no ${[...IMAGE_EXTENSIONS].join('/')} files)`);
      const problems = await checkImages(cfiles);
      let kept = 0;
      cfiles.forEach((f, i) => {
        const reason = problems[i];
        if (reason === null) {
          files.push(f);
          labels.push(c);
          kept++;
        } else if (opts.strict) {
          throw new InputError(f, `cannot decode image: ${reason}`);
        } else {
          skipped.push({ file: f, reason });
        }
      });
      if (kept === 0) throw new InputError(cdir, 'no decodable images in class folder');
      domainCount += kept;
    }
    sizes.push(domainCount);
  }
  const size = opts.imageSize ?? DEFAULT_IMAGE_SIZE;
  return {
    kind: 'folder',
    name: `folder:${root}`,
    domainbedName: basename(root),
    root,
    domains,
    classes: classes!,
    shape: [3, size, size],
    files,
    labels: Int32Array.from(labels),
    offsets: offsetsFromSizes(sizes),
    skipped,
  };
}
