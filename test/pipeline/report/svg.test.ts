// The SVG renderer and the report's plots: well-formed XML, the expected series, labels and
// panels, escaped text, and the same bytes for the same data.
import { describe, expect, it } from 'vitest';
import { plotAccuracyVsModels, plotDisagreement, plotDistances, plotInterpolation, renderPlots } from '../../../src/pipeline/report/plots.js';
import { escapeXml, niceTicks, rampColor, renderLineFigure } from '../../../src/pipeline/report/svg.js';
import { parseResults } from '../../../src/pipeline/report/validate.js';
import { DATASET, syntheticResults } from './fixture.js';
import { checkWellFormedXml } from './xml-check.js';

const count = (s: string, sub: string) => s.split(sub).length - 1;

describe('svg primitives', () => {
  it('escapes markup and characters XML forbids', () => {
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
    expect(escapeXml('x\u0001y\uD800')).toBe('x\uFFFDy\uFFFD');
    expect(escapeXml('ok \u{1F600}')).toBe('ok \u{1F600}');
  });
  it('nice ticks at 1, 2, 5 × 10^k', () => {
    expect(niceTicks(0, 1).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(72.3, 86.1)).toMatchObject({ lo: 70, hi: 90, values: [70, 75, 80, 85, 90], decimals: 0 }); // raw step 2.76 → 5
    expect(niceTicks(0.031, 0.088)).toMatchObject({ lo: 0.02, hi: 0.1, values: [0.02, 0.04, 0.06, 0.08, 0.1], decimals: 2 }); // raw 0.0114 → 0.02
    expect(niceTicks(1, 4, 5, true).values).toEqual([1, 2, 3, 4]);
    expect(niceTicks(5, 5).values.length).toBeGreaterThan(1);
  });
  it('colour ramp end points', () => {
    expect(rampColor(0)).toBe('#440154');
    expect(rampColor(1)).toBe('#fde725');
    expect(rampColor(2)).toBe('#fde725');
  });
  it('a line figure is well-formed, one polyline per multi-point series, text escaped', () => {
    const svg = renderLineFigure({
      title: 'T <&> "q"',
      xLabel: 'x',
      yLabel: 'y',
      panels: [{ title: 'p1', series: [{ name: 'a&b', color: '#000000', points: [[0, 1], [1, 2], [2, NaN], [3, 3]] }, { name: 'single', color: '#111111', points: [[1, 1]] }] }],
    });
    expect(checkWellFormedXml(svg)[0]).toBe('svg');
    expect(svg).toContain('<title>T &lt;&amp;&gt; &quot;q&quot;</title>');
    expect(count(svg, '<polyline')).toBe(1);
    expect(svg).toMatch(/<polyline points="[^"]*( [\d.]+,[\d.]+){2}"/); // 3 finite points
    expect(svg).toContain('>a&amp;b</text>');
  });
  it('a title longer than the panels widens the figure and starts inside it', () => {
    const title = 'a long figure title that is much wider than one panel and its legend put together, '.repeat(2).trim();
    const svg = renderLineFigure({ title, xLabel: 'x', yLabel: 'y', panels: [{ title: 'p', series: [{ name: 's', color: '#000000', points: [[0, 1], [1, 2]] }] }] });
    const width = Number(/<svg [^>]*width="([\d.]+)"/.exec(svg)![1]);
    const [, x, attrs] = new RegExp(`<text x="([\\d.-]+)"([^>]*)>${title}</text>`).exec(svg)!;
    expect(attrs).not.toContain('text-anchor'); // starts at x, so it cannot run off the left edge
    expect(Number(x)).toBeGreaterThan(0);
    expect(width - Number(x)).toBeGreaterThanOrEqual(title.length * 14 * 0.6);
  });
});

describe('report plots', () => {
  const results = syntheticResults();

  it('(a) accuracy vs number of averaged models: a panel per (env, trial), both sweeps and selections', () => {
    const svg = plotAccuracyVsModels(results, DATASET)!;
    checkWellFormedXml(svg);
    expect(count(svg, 'class="panel"')).toBe(6);
    for (const t of ['test 0°, trial 0', 'test 75°, trial 2']) expect(svg).toContain(`>${t}</text>`);
    for (const name of ['Soups uniform', 'Soups greedy', 'Ratatouille uniform', 'Ratatouille greedy', 'Soups probability ensemble', 'Ratatouille probability ensemble']) {
      expect(svg).toContain(`data-name="${name}"`);
      expect(svg).toContain(`>${name}</text>`); // legend
    }
    // Ratatouille greedy kept one run: markers, no line; the other three curves draw a line in each panel.
    expect(count(svg, '<polyline')).toBe(18);
    expect(count(svg, 'stroke-dasharray="5 3"')).toBe(6 + 2); // greedy soups lines + two dashed legend samples
  });

  it('(b) interpolation: different-init and same-init, validation dashed', () => {
    const svg = plotInterpolation(results, DATASET)!;
    checkWellFormedXml(svg);
    for (const name of ['different auxiliary inits, test', 'different auxiliary inits, validation', 'same init, test', 'same init, validation']) {
      expect(svg).toContain(`data-name="${name}"`);
    }
    expect(count(svg, '<polyline')).toBe(6 * 4);
    expect(count(svg, 'stroke-dasharray="5 3"')).toBe(6 * 2 + 2);
    for (const t of ['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']) expect(svg).toContain(`>${t}</text>`);
  });

  it('(c) disagreement heatmap labelled by sweep, seed and init', () => {
    const svg = plotDisagreement(results, DATASET)!;
    checkWellFormedXml(svg);
    for (const l of ['S0 foundation', 'R0 foundation', 'R1 rot90pred', 'R3 colorpred']) expect(svg).toContain(`>${l}</text>`);
    // 8×8 + 8×8 + … (the diverged run is absent from env 75°, trial 1): 5·64 + 49 cells, plus 40 colour-bar steps.
    expect(count(svg, 'stroke-width="0.5"')).toBe(5 * 64 + 49);
    expect(svg).toContain('>12</text>'); // 0.12 shown as percent
  });

  it('(d) distance bars with the ratio note', () => {
    const svg = plotDistances(results)!;
    checkWellFormedXml(svg);
    for (const l of ['rot90pred', 'rot90pred ↔ fashion', 'RotatedMNIST: Ratatouille runs (17)', 'RotatedMNIST: Soups runs (24)']) expect(svg).toContain(`>${l}</text>`);
    expect(svg).toContain('target fine-tuning / auxiliary distance = 0.50');
  });

  it('renderPlots names the files; plots without data are left out', () => {
    expect(renderPlots(results).map((p) => p.name)).toEqual([
      'accuracy-vs-models-RotatedMNIST', 'interpolation-RotatedMNIST', 'disagreement-RotatedMNIST', 'distances',
    ]);
    const bare = syntheticResults();
    bare.diagnostics = [];
    bare.auxiliary = null;
    for (const r of bare.runs) r.initDistance = null;
    expect(renderPlots(bare)).toEqual([]);
  });

  it('escapes dataset and domain names', () => {
    const r = JSON.parse(JSON.stringify(syntheticResults()).replaceAll('RotatedMNIST', 'Rot<&>\\"MNIST').replaceAll('0°', "zero 'deg'")) as typeof results;
    const plots = renderPlots(parseResults(JSON.stringify(r)));
    expect(plots[0].name).toBe('accuracy-vs-models-Rot_MNIST');
    for (const p of plots) checkWellFormedXml(p.svg);
    expect(plots[0].svg).toContain('Rot&lt;&amp;&gt;&quot;MNIST: test accuracy');
    expect(plots[0].svg).toContain('test zero &apos;deg&apos;, trial 0');
  });

  it('same data, same bytes', () => {
    const again = parseResults(JSON.stringify(syntheticResults()));
    expect(renderPlots(again)).toEqual(renderPlots(results));
  });
});

describe('the XML check used above', () => {
  it('catches what would make an SVG unreadable', () => {
    const ok = '<?xml version="1.0"?>\n<svg a="1"><g><text>x &amp; y</text></g><rect b=\'2\'/></svg>\n';
    expect(checkWellFormedXml(ok)).toEqual(['svg', 'g', 'text', 'rect']);
    expect(() => checkWellFormedXml('<svg><g></svg>')).toThrow(/closes/);
    expect(() => checkWellFormedXml('<svg><g>')).toThrow(/unclosed/);
    expect(() => checkWellFormedXml('<svg>a & b</svg>')).toThrow(/bad entity/);
    expect(() => checkWellFormedXml('<svg a="<"/>')).toThrow(/raw '<'/);
    expect(() => checkWellFormedXml('<svg a="1" a="2"/>')).toThrow(/duplicate attribute/);
    expect(() => checkWellFormedXml('<svg a=1/>')).toThrow(/unparsable attributes/);
    expect(() => checkWellFormedXml('<svg/><svg/>')).toThrow(/more than one root/);
  });
});
