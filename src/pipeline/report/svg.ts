// A small deterministic SVG renderer for report figures: line charts and heatmaps laid out as a
// grid of panels, and horizontal bar charts, with "nice" ticks, axis labels and legends. Same
// input → same bytes: coordinates are rounded to 0.01 and nothing reads the clock or the locale.

/** Okabe–Ito, readable by colour-blind readers. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

/** Escapes XML text and attribute values, and replaces characters XML 1.0 forbids with U+FFFD. */
export function escapeXml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** A coordinate with at most two decimals, never "-0". */
export function num(x: number): string {
  const r = Math.round(x * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

type Attrs = Record<string, string | number | undefined>;

/** Accumulates elements; attributes print in insertion order. */
export class Svg {
  private readonly parts: string[] = [];

  private attrs(a: Attrs): string {
    return Object.entries(a)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v as string)}"`)
      .join('');
  }
  open(tag: string, a: Attrs = {}): this {
    this.parts.push(`<${tag}${this.attrs(a)}>`);
    return this;
  }
  close(tag: string): this {
    this.parts.push(`</${tag}>`);
    return this;
  }
  leaf(tag: string, a: Attrs): this {
    this.parts.push(`<${tag}${this.attrs(a)}/>`);
    return this;
  }
  text(x: number, y: number, s: string, a: Attrs = {}): this {
    this.parts.push(`<text${this.attrs({ x, y, ...a })}>${escapeXml(s)}</text>`);
    return this;
  }
  /** The finished document: XML declaration, root with white background and a <title>. */
  static document(width: number, height: number, title: string, body: Svg): string {
    return [
      '<?xml version="1.0" encoding="UTF-8"?>',
      `<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" viewBox="0 0 ${num(width)} ${num(height)}" font-family="sans-serif" font-size="11">`,
      `<title>${escapeXml(title)}</title>`,
      `<rect x="0" y="0" width="${num(width)}" height="${num(height)}" fill="#ffffff"/>`,
      ...body.parts,
      '</svg>',
      '',
    ].join('\n');
  }
}

/** Rough width of sans-serif text at `size` px, for layout only. */
export function textWidth(s: string, size = 11): number {
  return [...s].length * size * 0.6;
}

export interface Ticks {
  lo: number;
  hi: number;
  values: number[];
  decimals: number;
}

/** Ticks at 1, 2 or 5 × 10^k covering [lo, hi]; the range widens to the outer ticks. */
export function niceTicks(lo: number, hi: number, target = 5, integer = false): Ticks {
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  let step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const values: number[] = [];
  for (let i = first; i <= last; i++) values.push(Number((i * step).toFixed(decimals)));
  return { lo: first * step, hi: last * step, values, decimals };
}

export interface Series {
  /** Legend text; series with equal names share one legend entry (the first one's style). */
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
  /** Draw the connecting line (default true). */
  line?: boolean;
  marker?: 'circle' | 'square' | 'none';
}

export interface LinePanel {
  title: string;
  series: Series[];
}

export interface LineFigure {
  title: string;
  xLabel: string;
  yLabel: string;
  panels: LinePanel[];
  /** Panels per row (default: up to 3). */
  columns?: number;
  integerX?: boolean;
  /** Fixed x range (e.g. [0, 1] for α); otherwise all panels share the data's range. */
  xRange?: [number, number];
}

const PANEL_W = 330;
const PANEL_H = 240;
const PLOT = { left: 52, right: 12, top: 26, bottom: 42 };
const TITLE_H = 34;
const TITLE_SIZE = 14;
const PAD = 10;

/** Figure width a title needs (textWidth's estimate covers even DejaVu Sans Bold, a wide face). */
function titleWidth(title: string): number {
  return PAD + textWidth(title, TITLE_SIZE) + PAD;
}

/**
 * The figure title, anchored at the left margin: with the figure at least titleWidth wide it fits,
 * and should the estimate fall short it runs off the right edge, never the left.
 */
function drawTitle(svg: Svg, title: string): void {
  svg.text(PAD, 22, title, { 'font-size': TITLE_SIZE, 'font-weight': 'bold' });
}

interface Legend {
  name: string;
  color: string;
  dashed: boolean;
  line: boolean;
  marker: 'circle' | 'square' | 'block' | 'none';
}

function legendEntries(series: Series[]): Legend[] {
  const seen = new Map<string, Legend>();
  for (const s of series) {
    if (!seen.has(s.name)) seen.set(s.name, { name: s.name, color: s.color, dashed: !!s.dashed, line: s.line !== false, marker: s.marker ?? 'circle' });
  }
  return [...seen.values()];
}

function marker(svg: Svg, kind: Legend['marker'], x: number, y: number, color: string): void {
  if (kind === 'circle') svg.leaf('circle', { cx: x, cy: y, r: 2.8, fill: color });
  else if (kind === 'block') svg.leaf('rect', { x: x - 6, y: y - 5, width: 12, height: 10, fill: color });
  else if (kind === 'square') svg.leaf('rect', { x: x - 3.5, y: y - 3.5, width: 7, height: 7, fill: 'none', stroke: color, 'stroke-width': 1.5 });
}

function drawLegend(svg: Svg, x: number, y: number, entries: Legend[]): void {
  entries.forEach((e, i) => {
    const cy = y + i * 18;
    if (e.line) svg.leaf('line', { x1: x, y1: cy, x2: x + 24, y2: cy, stroke: e.color, 'stroke-width': 2, 'stroke-dasharray': e.dashed ? '5 3' : undefined });
    marker(svg, e.marker, x + 12, cy, e.color);
    svg.text(x + 30, cy + 4, e.name);
  });
}

function legendWidth(entries: Legend[]): number {
  return entries.length ? 40 + Math.max(...entries.map((e) => textWidth(e.name))) + PAD : 0;
}

/** Grid of line-chart panels sharing axes' ranges, legend on the right. */
export function renderLineFigure(fig: LineFigure): string {
  const all = fig.panels.flatMap((p) => p.series);
  const pts = all.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [xlo, xhi] = fig.xRange ?? (xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1]);
  const xt = niceTicks(xlo, xhi, 5, fig.integerX);
  // A little headroom so markers at the extremes do not sit on the frame.
  const [ylo, yhi] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  const yt = niceTicks(ylo - 0.02 * (yhi - ylo), yhi + 0.02 * (yhi - ylo), 5);
  const cols = Math.max(1, Math.min(fig.columns ?? 3, fig.panels.length));
  const rows = Math.max(1, Math.ceil(fig.panels.length / cols));
  const legend = legendEntries(all);
  const width = Math.max(PAD + cols * PANEL_W + legendWidth(legend) + PAD, titleWidth(fig.title));
  const height = TITLE_H + rows * PANEL_H + PAD;
  const svg = new Svg();
  drawTitle(svg, fig.title);
  fig.panels.forEach((panel, i) => {
    const ox = PAD + (i % cols) * PANEL_W;
    const oy = TITLE_H + Math.floor(i / cols) * PANEL_H;
    const x0 = ox + PLOT.left;
    const x1 = ox + PANEL_W - PLOT.right;
    const y0 = oy + PANEL_H - PLOT.bottom;
    const y1 = oy + PLOT.top;
    const sx = (x: number) => x0 + ((x - xt.lo) / (xt.hi - xt.lo)) * (x1 - x0);
    const sy = (y: number) => y0 - ((y - yt.lo) / (yt.hi - yt.lo)) * (y0 - y1);
    svg.open('g', { class: 'panel' });
    svg.text((x0 + x1) / 2, oy + 16, panel.title, { 'text-anchor': 'middle', 'font-weight': 'bold' });
    for (const v of xt.values) {
      svg.leaf('line', { x1: sx(v), y1: y0, x2: sx(v), y2: y1, stroke: '#e5e5e5' });
      svg.text(sx(v), y0 + 14, v.toFixed(xt.decimals), { 'text-anchor': 'middle' });
    }
    for (const v of yt.values) {
      svg.leaf('line', { x1: x0, y1: sy(v), x2: x1, y2: sy(v), stroke: '#e5e5e5' });
      svg.text(x0 - 5, sy(v) + 4, v.toFixed(yt.decimals), { 'text-anchor': 'end' });
    }
    svg.leaf('rect', { x: x0, y: y1, width: x1 - x0, height: y0 - y1, fill: 'none', stroke: '#333333' });
    svg.text((x0 + x1) / 2, y0 + 32, fig.xLabel, { 'text-anchor': 'middle' });
    const ly = (y0 + y1) / 2;
    svg.text(ox + 12, ly, fig.yLabel, { 'text-anchor': 'middle', transform: `rotate(-90 ${num(ox + 12)} ${num(ly)})` });
    for (const s of panel.series) {
      const ok = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      svg.open('g', { class: 'series', 'data-name': s.name });
      if (s.line !== false && ok.length > 1) {
        const d = ok.map(([x, y]) => `${num(sx(x))},${num(sy(y))}`).join(' ');
        svg.leaf('polyline', { points: d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': s.dashed ? '5 3' : undefined });
      }
      for (const [x, y] of ok) marker(svg, s.marker ?? 'circle', sx(x), sy(y), s.color);
      svg.close('g');
    }
    svg.close('g');
  });
  drawLegend(svg, PAD + cols * PANEL_W + PAD, TITLE_H + PLOT.top + 6, legend);
  return Svg.document(width, height, fig.title, svg);
}

/** Viridis, sampled at five stops and interpolated in RGB. */
const RAMP = [
  [0x44, 0x01, 0x54],
  [0x3b, 0x52, 0x8b],
  [0x21, 0x91, 0x8c],
  [0x5e, 0xc9, 0x62],
  [0xfd, 0xe7, 0x25],
];

export function rampColor(t: number): string {
  const u = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(u));
  const f = u - i;
  const c = RAMP[i].map((a, k) => Math.round(a + (RAMP[i + 1][k] - a) * f));
  return '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
}

export interface HeatmapPanel {
  title: string;
  labels: string[];
  /** Square matrix; null cells are drawn grey. */
  values: (number | null)[][];
}

export interface HeatmapFigure {
  title: string;
  /** Colour-bar caption. */
  valueLabel: string;
  panels: HeatmapPanel[];
  columns?: number;
  /** Digits printed inside cells when they are large enough. */
  cellDecimals?: number;
}

/** Grid of labelled square heatmaps sharing one colour scale, colour bar on the right. */
export function renderHeatmapFigure(fig: HeatmapFigure): string {
  const vals = fig.panels.flatMap((p) => p.values.flat()).filter((v): v is number => v !== null && Number.isFinite(v));
  const scale = niceTicks(Math.min(0, ...vals), vals.length ? Math.max(...vals) : 1, 4);
  const maxN = Math.max(1, ...fig.panels.map((p) => p.labels.length));
  const cell = Math.max(10, Math.min(30, Math.floor(300 / maxN)));
  const labelW = Math.max(0, ...fig.panels.flatMap((p) => p.labels.map((l) => textWidth(l, 10)))) + 8;
  const panelW = labelW + maxN * cell + 2 * PAD;
  const panelH = 24 + maxN * cell + labelW * 0.75 + PAD;
  const cols = Math.max(1, Math.min(fig.columns ?? 3, fig.panels.length));
  const rows = Math.max(1, Math.ceil(fig.panels.length / cols));
  const barW = 80;
  const width = Math.max(PAD + cols * panelW + barW + PAD, titleWidth(fig.title));
  const height = Math.max(TITLE_H + rows * panelH + PAD, TITLE_H + 240);
  const svg = new Svg();
  drawTitle(svg, fig.title);
  const color = (v: number) => rampColor((v - scale.lo) / (scale.hi - scale.lo));
  fig.panels.forEach((p, i) => {
    const ox = PAD + (i % cols) * panelW;
    const oy = TITLE_H + Math.floor(i / cols) * panelH;
    const gx = ox + labelW;
    const gy = oy + 24;
    const n = p.labels.length;
    svg.open('g', { class: 'panel' });
    svg.text(gx + (n * cell) / 2, oy + 14, p.title, { 'text-anchor': 'middle', 'font-weight': 'bold' });
    p.values.forEach((row, r) =>
      row.forEach((v, c) => {
        const fill = v === null || !Number.isFinite(v) ? '#cccccc' : color(v);
        svg.leaf('rect', { x: gx + c * cell, y: gy + r * cell, width: cell, height: cell, fill, stroke: '#ffffff', 'stroke-width': 0.5 });
        if (v !== null && Number.isFinite(v) && cell >= 22) {
          const light = (v - scale.lo) / (scale.hi - scale.lo) < 0.6;
          svg.text(gx + c * cell + cell / 2, gy + r * cell + cell / 2 + 3.5, v.toFixed(fig.cellDecimals ?? 0), {
            'text-anchor': 'middle',
            'font-size': 9,
            fill: light ? '#ffffff' : '#000000',
          });
        }
      }),
    );
    p.labels.forEach((l, k) => {
      svg.text(gx - 4, gy + k * cell + cell / 2 + 3.5, l, { 'text-anchor': 'end', 'font-size': 10 });
      const lx = gx + k * cell + cell / 2 + 3;
      const ly = gy + n * cell + 6;
      svg.text(lx, ly, l, { 'text-anchor': 'end', 'font-size': 10, transform: `rotate(-45 ${num(lx)} ${num(ly)})` });
    });
    svg.close('g');
  });
  // Colour bar: discrete steps (no gradient ids, so documents can be inlined side by side).
  const bx = PAD + cols * panelW + PAD;
  const by = TITLE_H + 24;
  const bh = 180;
  const steps = 40;
  svg.open('g', { class: 'colorbar' });
  for (let k = 0; k < steps; k++) {
    svg.leaf('rect', { x: bx, y: by + bh - ((k + 1) * bh) / steps, width: 14, height: bh / steps + 0.3, fill: rampColor((k + 0.5) / steps) });
  }
  svg.leaf('rect', { x: bx, y: by, width: 14, height: bh, fill: 'none', stroke: '#333333' });
  for (const v of scale.values) {
    const y = by + bh - ((v - scale.lo) / (scale.hi - scale.lo)) * bh;
    svg.leaf('line', { x1: bx + 14, y1: y, x2: bx + 18, y2: y, stroke: '#333333' });
    svg.text(bx + 20, y + 4, v.toFixed(scale.decimals));
  }
  const cx = bx + 58;
  const cy = by + bh / 2;
  svg.text(cx, cy, fig.valueLabel, { 'text-anchor': 'middle', transform: `rotate(-90 ${num(cx)} ${num(cy)})` });
  svg.close('g');
  return Svg.document(width, height, fig.title, svg);
}

export interface Bar {
  label: string;
  value: number;
  /** Legend group; bars of one group share a colour. */
  group: string;
}

export interface BarFigure {
  title: string;
  valueLabel: string;
  bars: Bar[];
  /** Lines of text under the chart. */
  notes?: string[];
  valueDecimals?: number;
}

/** Horizontal bars with labels on the left, values at the bar ends, groups coloured. */
export function renderBarChart(fig: BarFigure): string {
  const groups = [...new Set(fig.bars.map((b) => b.group))];
  const colorOf = (g: string) => PALETTE[groups.indexOf(g) % PALETTE.length];
  const labelW = Math.max(40, ...fig.bars.map((b) => textWidth(b.label))) + 12;
  const plotW = 360;
  const barH = 18;
  const x0 = PAD + labelW;
  const y0 = TITLE_H + 8;
  const ticks = niceTicks(0, Math.max(0, ...fig.bars.map((b) => b.value)) || 1, 5);
  const legend = groups.map((g): Legend => ({ name: g, color: colorOf(g), dashed: false, line: false, marker: 'block' }));
  const plotH = fig.bars.length * barH;
  const notes = fig.notes ?? [];
  const width = Math.max(x0 + plotW + 50 + legendWidth(legend) + PAD, PAD + Math.max(0, ...notes.map((l) => textWidth(l))) + PAD, titleWidth(fig.title));
  const height = Math.max(y0 + plotH + 44 + notes.length * 16 + PAD, TITLE_H + legend.length * 18 + 20);
  const sx = (v: number) => x0 + ((v - ticks.lo) / (ticks.hi - ticks.lo)) * plotW;
  const svg = new Svg();
  drawTitle(svg, fig.title);
  for (const v of ticks.values) {
    svg.leaf('line', { x1: sx(v), y1: y0, x2: sx(v), y2: y0 + plotH, stroke: '#e5e5e5' });
    svg.text(sx(v), y0 + plotH + 14, v.toFixed(ticks.decimals), { 'text-anchor': 'middle' });
  }
  fig.bars.forEach((b, i) => {
    const y = y0 + i * barH;
    svg.text(x0 - 6, y + barH / 2 + 4, b.label, { 'text-anchor': 'end' });
    svg.leaf('rect', { x: x0, y: y + 2, width: Math.max(0, sx(b.value) - x0), height: barH - 4, fill: colorOf(b.group) });
    svg.text(sx(b.value) + 4, y + barH / 2 + 4, b.value.toFixed(fig.valueDecimals ?? 3));
  });
  svg.leaf('line', { x1: x0, y1: y0, x2: x0, y2: y0 + plotH, stroke: '#333333' });
  svg.text(x0 + plotW / 2, y0 + plotH + 32, fig.valueLabel, { 'text-anchor': 'middle' });
  notes.forEach((line, i) => svg.text(PAD, y0 + plotH + 54 + i * 16, line));
  drawLegend(svg, x0 + plotW + 50, y0 + 8, legend);
  return Svg.document(width, height, fig.title, svg);
}
