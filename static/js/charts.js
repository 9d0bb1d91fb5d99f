// charts.js — hand-written SVG/canvas charts: line charts with axes and legends (loss,
// accuracy, learning rate, gradient norms, comparisons), histograms, a confusion matrix
// and 28x28 grayscale images. No chart library; every chart is an accessible <figure>.

import { h, fmt } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

/** An SVG element with attributes (null/undefined ones skipped) and optional text. */
export function svgEl(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

const s = svgEl;

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || raw;
  const out = [];
  // Snap the accumulated float drift at zero (else a tick reads -2.78e-17 on difference charts).
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return out;
}

function logTicks(lo, hi) {
  const within = (v) => v >= lo / 1.0001 && v <= hi * 1.0001;
  for (const mults of [[1], [1, 2, 5], [1, 1.5, 2, 3, 5, 7]]) {
    const out = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of mults) out.push(Number((m * 10 ** e).toPrecision(3)));
    }
    const inRange = out.filter(within);
    if (inRange.length > 8) {
      // Many decades: keep every k-th power of ten.
      const k = Math.ceil(inRange.length / 6);
      return inRange.filter((_, i) => i % k === 0);
    }
    if (inRange.length >= 3 || mults.length > 3) return inRange.length >= 2 ? inRange : [lo, hi];
  }
  return [lo, hi];
}

/**
 * A line chart. series: [{name, points: [[x, y], ...], color?, dash?, width?, noDots?,
 * title?, data?}]: `title` replaces the series' hover text ("name: last value"), `data`
 * ({key: value}) becomes data-* attributes on its <g class="series">. Options: title,
 * xLabel, yLabel, logY, yMin, yMax, id, height, integerX, xMin, legend (false: none). Returns a
 * <figure> with an SVG and a legend.
 */
export function lineChart({ title, series, xLabel = '', yLabel = '', logY = false, yMin, yMax, xMin, id, height = 260, integerX = false, legend = true }) {
  const W = 560, H = height, m = { l: 58, r: 14, t: 12, b: 40 };
  const clean = series.map((se, i) => ({
    ...se,
    color: se.color || PALETTE[i % PALETTE.length],
    points: (se.points || []).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0)),
  }));
  const all = clean.flatMap((se) => se.points);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title || yLabel });
  const fig = h('figure.chart-figure', { id });
  if (title) fig.append(h('figcaption.chart-title', title));
  fig.append(svg);
  if (!all.length) {
    svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'No data yet'));
    fig.dataset.points = '0';
    return fig;
  }
  let x0 = Math.min(xMin ?? Infinity, ...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  let y0 = yMin ?? Math.min(...all.map((p) => p[1])), y1 = yMax ?? Math.max(...all.map((p) => p[1]));
  if (logY) {
    if (yMin === undefined) y0 /= 1.3;
    if (yMax === undefined) y1 *= 1.3;
  } else {
    if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
    const pad = (y1 - y0) * 0.05;
    if (yMin === undefined) y0 -= pad;
    if (yMax === undefined) y1 += pad;
  }
  const ty = (y) => logY ? Math.log10(y) : y;
  const X = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (y) => H - m.b - ((ty(y) - ty(y0)) / (ty(y1) - ty(y0))) * (H - m.t - m.b);

  const grid = s('g', { class: 'chart-grid' });
  const yt = logY ? logTicks(y0, y1) : ticks(y0, y1);
  for (const v of (yt.length >= 2 ? yt : [y0, y1])) {
    grid.append(s('line', { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v) }));
    grid.append(s('text', { x: m.l - 6, y: Y(v) + 4, 'text-anchor': 'end' }, fmt(v, 3)));
  }
  let xt = ticks(x0, x1, 6);
  if (integerX) xt = xt.filter((v) => Number.isInteger(v));
  for (const v of xt) {
    grid.append(s('line', { x1: X(v), x2: X(v), y1: H - m.b, y2: H - m.b + 4 }));
    grid.append(s('text', { x: X(v), y: H - m.b + 16, 'text-anchor': 'middle' }, fmt(v, 4)));
  }
  grid.append(s('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'axis' }));
  grid.append(s('line', { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: 'axis' }));
  if (xLabel) grid.append(s('text', { x: (m.l + W - m.r) / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis-label' }, xLabel));
  if (yLabel) grid.append(s('text', { x: -(m.t + H - m.b) / 2, y: 14, transform: 'rotate(-90)', 'text-anchor': 'middle', class: 'axis-label' }, yLabel + (logY ? ' (log)' : '')));
  svg.append(grid);

  for (const se of clean) {
    if (!se.points.length) continue;
    const d = se.points.map(([x, y], i) => `${i ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join('');
    const g = s('g', { class: 'series' });
    for (const [k, v] of Object.entries(se.data || {})) g.setAttribute(`data-${k}`, v);
    g.append(s('path', { d, fill: 'none', stroke: se.color, 'stroke-width': se.width || 2, 'stroke-dasharray': se.dash || null, 'data-points': se.points.length }));
    if (se.points.length <= 40 && !se.noDots) {
      for (const [x, y] of se.points) g.append(s('circle', { cx: X(x), cy: Y(y), r: 2.5, fill: se.color }));
    }
    const tip = s('title', {}, se.title || `${se.name}: last ${fmt(se.points[se.points.length - 1][1], 4)}`);
    g.append(tip);
    svg.append(g);
  }
  fig.dataset.points = String(all.length);
  if (legend && (clean.length > 1 || clean[0].name)) {
    fig.append(h('ul.legend', clean.filter((se) => se.points.length).map((se) => h('li',
      h('span.swatch', { style: `background:${se.color};${se.dash ? 'opacity:.6' : ''}`, 'aria-hidden': 'true' }),
      se.name))));
  }
  return fig;
}

/** Histogram bars from edges (n+1) and counts (n). */
export function histogram({ title, edges, counts, color = PALETTE[0], id, note }) {
  const W = 300, H = 160, m = { l: 8, r: 8, t: 8, b: 26 };
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
  const max = Math.max(1, ...counts);
  const lo = edges[0], hi = edges[edges.length - 1];
  const X = (v) => m.l + ((v - lo) / (hi - lo || 1)) * (W - m.l - m.r);
  counts.forEach((c, i) => {
    const x = X(edges[i]), w = Math.max(0.5, X(edges[i + 1]) - x - 0.5);
    const hgt = (c / max) * (H - m.t - m.b);
    svg.append(s('rect', { x, y: H - m.b - hgt, width: w, height: hgt, fill: color }));
  });
  svg.append(s('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'axis' }));
  svg.append(s('text', { x: m.l, y: H - 8, class: 'tick' }, fmt(lo)));
  svg.append(s('text', { x: W - m.r, y: H - 8, 'text-anchor': 'end', class: 'tick' }, fmt(hi)));
  const fig = h('figure.chart-figure.hist', { id }, h('figcaption.chart-title', title), svg);
  if (note) fig.append(h('p.chart-note', note));
  return fig;
}

/** Draws 784 (or side*side) values in 0..1 as white-on-black pixels into a new canvas. */
export function imageCanvas(pixels, { scale = 4, label, id } = {}) {
  const side = Math.round(Math.sqrt(pixels.length));
  const c = h('canvas.digit', { width: side, height: side, id, role: 'img', 'aria-label': label || 'input image' });
  c.style.width = `${side * scale}px`;
  c.style.height = `${side * scale}px`;
  paintImage(c, pixels);
  return c;
}

export function paintImage(canvas, pixels) {
  const side = canvas.width;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    const v = Math.round(Math.max(0, Math.min(1, pixels[i] || 0)) * 255);
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Confusion matrix as a table (rows = true label, columns = predicted), shaded by count. */
export function confusionTable(confusion, { id } = {}) {
  const n = confusion.length;
  const rowMax = confusion.map((r) => Math.max(1, r.reduce((a, b) => a + b, 0)));
  const head = h('tr', h('th', { scope: 'col' }, h('span.sr-only', 'true \\ predicted'), 't\\p'),
    [...Array(n).keys()].map((j) => h('th', { scope: 'col' }, String(j))));
  const rows = confusion.map((r, i) => h('tr', h('th', { scope: 'row' }, String(i)),
    r.map((c, j) => {
      const f = c / rowMax[i];
      const bg = i === j ? `rgba(44,160,44,${0.15 + 0.75 * f})` : `rgba(214,39,40,${Math.min(0.9, f * 4)})`;
      return h('td', { style: `background:${c ? bg : 'transparent'}`, title: `true ${i}, predicted ${j}: ${c}` }, String(c));
    })));
  return h('table.confusion', { id }, h('caption', 'Confusion matrix: rows are true labels, columns predictions'),
    h('thead', head), h('tbody', rows));
}
