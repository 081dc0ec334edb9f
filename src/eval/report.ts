// Human-readable text of an evaluation result (the CLI prints it; --json prints the result).
import type { Accuracy } from '../data/protocol.js';
import type { DomainEvalResult, EvalResult, HoldoutEvalResult } from './evaluate.js';

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(2)}%` : 'n/a');
const cell = (a: Accuracy) => `${pct(a.acc)} (${a.correct}/${a.total})`.padEnd(22);

function header(r: EvalResult, seeds: string, model: string): string {
  const rate = r.seconds > 0 ? `, ${Math.round(r.images / r.seconds)} images/s` : '';
  return `${model} on ${r.dataset} (${seeds}): ${r.images} images, batch ${r.batch}, ${r.seconds.toFixed(1)} s${rate}`;
}

function domainLines(r: DomainEvalResult, model: string): string[] {
  const s = r.seeds;
  const seeds = [s.dataSeed === null ? null : `data seed ${s.dataSeed}`, s.trialSeed === null ? null : `trial seed ${s.trialSeed}`].filter(Boolean).join(', ');
  const width = Math.max(8, ...r.domains.map((d) => `${d.index} ${d.domain}`.length + 9));
  const lines = [header(r, seeds || 'given splits', model), `${'domain'.padEnd(width)}${'in (80%)'.padEnd(22)}${'out (20%)'.padEnd(22)}full`];
  for (const d of r.domains) lines.push(`${`${d.index} ${d.domain}${d.test ? ' [test]' : ''}`.padEnd(width)}${cell(d.in)}${cell(d.out)}${cell(d.full).trimEnd()}`);
  if (r.selection) {
    lines.push(`training-domain validation (mean out-split accuracy of training domains): ${pct(r.selection.trainingDomainValidation)}`);
    for (const t of r.selection.tests) {
      lines.push(`test env ${t.env} (${t.domain}): ${pct(t.in)} in-split (single model, DomainBed), ${pct(t.full)} full domain (weight averages)`);
    }
  }
  return lines;
}

function holdoutLines(r: HoldoutEvalResult, model: string): string[] {
  return [
    header(r, `data seed ${r.dataSeed}, ${r.test.total}-sample holdout`, model),
    `test   ${cell(r.test).trimEnd()}`,
    `train  ${cell(r.train).trimEnd()}`,
  ];
}

export function formatEvalResult(r: EvalResult, model: string): string {
  return (r.protocol === 'holdout' ? holdoutLines(r, model) : domainLines(r, model)).join('\n') + '\n';
}
