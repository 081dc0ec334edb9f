// `ratatouille data list | info NAME | preview NAME -o grid.png`: the datasets the toolkit
// knows, their domains/classes/sizes/cache, and a picture of samples per domain.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { InputError } from '../../errors.js';
import { describeDataset, type DomainDataset } from '../../data/dataset.js';
import { writePreview } from '../../data/preview.js';
import { listDatasets, openDataset, type OpenOptions } from '../../data/registry.js';
import { type DatasetFlags, datasetOpenOptions, parseIntOption, withDatasetOptions } from '../options.js';

interface CommonOpts extends DatasetFlags {
  dataSeed: string;
}

/** The dataset flags plus --data-seed, shared by `data info` and `data preview`. */
function withCommonOptions(cmd: Command): Command {
  return withDatasetOptions(cmd).option('--data-seed <n>', 'seed of domain membership and dataset noise', '0');
}

function openOptions(o: CommonOpts): OpenOptions {
  return { ...datasetOpenOptions(o), dataSeed: parseIntOption('--data-seed', o.dataSeed, 0, 0xffffffff) };
}

function infoText(ds: DomainDataset): string {
  const d = describeDataset(ds);
  const lines = [
    `${d.name} (${d.domainbedName}): ${d.domains.length} domains, ${d.classes.length} classes, input [${d.shape.join(', ')}], ${d.total} samples`,
    `domains:  ${d.domains.map((x) => `${x.name} (${x.size})`).join(', ')}`,
    `classes:  ${d.classes.join(', ')}`,
  ];
  if (ds.kind === 'tensor') {
    lines.push(`source:   ${ds.source.description}, sha256 ${ds.source.hash.slice(0, 16)}…`);
    lines.push(`data seed: ${ds.dataSeed}`);
    lines.push(`cache:    ${ds.cache ? `${ds.cache.path} (${ds.cache.hit ? 'hit' : 'built now'})` : 'disabled'}`);
  } else {
    lines.push(`root:     ${ds.root}`);
    lines.push(`skipped:  ${ds.skipped.length} undecodable file(s)${ds.skipped.length ? ':' : ''}`);
    for (const s of ds.skipped.slice(0, 10)) lines.push(`  ${s.file}: ${s.reason}`);
    if (ds.skipped.length > 10) lines.push(`  … and ${ds.skipped.length - 10} more`);
  }
  return lines.join('\n') + '\n';
}

export function dataCommand(): Command {
  const data = new Command('data').description('datasets: list them, show their domains and sizes, preview samples');

  data
    .command('list')
    .description('datasets known by name (plus folder:<path> image folders)')
    .option('--json', 'machine-readable output on stdout')
    .action((o: { json?: boolean }) => {
      const list = listDatasets();
      if (o.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      else process.stdout.write(list.map((d) => `${d.name.padEnd(24)} ${d.description}`).join('\n') + '\n');
    });

  withCommonOptions(data.command('info').argument('<name>', 'dataset name or folder:<path>').description('domains, classes, sizes, source and cache location'))
    .option('--json', 'machine-readable output on stdout')
    .action(async (name: string, o: CommonOpts & { json?: boolean }) => {
      const ds = await openDataset(name, openOptions(o));
      process.stdout.write(o.json ? JSON.stringify(describeDataset(ds), null, 2) + '\n' : infoText(ds));
    });

  withCommonOptions(data.command('preview').argument('<name>', 'dataset name or folder:<path>').description('write a PNG grid of samples, one row per domain'))
    .requiredOption('-o, --output <file>', 'PNG file to write')
    .option('-n, --per-domain <n>', 'samples per domain', '8')
    .option('--seed <n>', 'which samples (and augmentation) to show', '0')
    .option('--augment', 'image folders: show the training augmentation')
    .option('--scale <x>', 'output pixels per input pixel (default 3 for 28×28, 0.5 for 224×224)')
    .action(async (name: string, o: CommonOpts & { output: string; perDomain: string; seed: string; augment?: boolean; scale?: string }) => {
      const outDir = dirname(o.output);
      if (!existsSync(outDir) || !statSync(outDir).isDirectory()) throw new InputError(o.output, `folder ${outDir} does not exist`);
      const scale = o.scale === undefined ? undefined : Number(o.scale);
      if (scale !== undefined && !(scale > 0 && scale <= 16)) throw new InputError('--scale', `expected a number in (0, 16], got '${o.scale}'`);
      const ds = await openDataset(name, openOptions(o));
      const size = await writePreview(ds, o.output, {
        perDomain: parseIntOption('--per-domain', o.perDomain, 1, 64),
        seed: parseIntOption('--seed', o.seed, 0, 0xffffffff),
        augment: o.augment,
        scale,
      });
      process.stderr.write(`wrote ${o.output} (${size.width}×${size.height}, ${ds.domains.length} domains × ${o.perDomain})\n`);
    });

  return data;
}
