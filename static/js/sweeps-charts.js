// sweeps-charts.js — the sweep page's (sweep.js) two views of "which settings did well":
// the parallel-coordinates chart (#sweep-parallel; one line a trial across an axis per
// swept field and the best metric, coloured worse -> better) and "what matters most"
// (#sweep-importance; the mean metric at each value of each field, fields by spread).
// Both are functions of the sweep alone (no state, no requests), so they can live apart
// from the page that polls it.

import { h, fmt } from './dom.js';
import { svgEl } from './charts.js';
import { metricWords, goalOf, better, metricText, key, valueText, paramsText } from './sweeps-text.js';

/** A difference of the metric: percentage points for accuracies. */
const spreadText = (metric, d) => (String(metric).endsWith('_accuracy') ? `${fmt(d * 100, 3)} pp` : fmt(d, 3));
const shorten = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/** Worse -> better: orange, teal, navy (readable on white, not red/green). */
const RAMP = [[0, [244, 162, 89]], [0.5, [62, 142, 126]], [1, [31, 58, 95]]];
function ramp(g) {
  const x = Math.max(0, Math.min(1, Number.isFinite(g) ? g : 0.5));
  const i = x <= 0.5 ? 0 : 1;
  const [a, ca] = RAMP[i], [b, cb] = RAMP[i + 1];
  const f = (x - a) / (b - a);
  return `rgb(${ca.map((c, j) => Math.round(c + (cb[j] - c) * f)).join(',')})`;
}

/** The domain's kind and argument ({values: [...]} -> ['values', [...]]). */
const domainOf = (spec, field) => Object.entries((spec.space || {})[field] || { values: [] })[0];

/**
 * One axis of the parallel-coordinates chart: `frac(v)` in [0, 1] (bottom to top) and its
 * ticks. Listed values and anything not numeric are placed evenly (numbers in order);
 * ranges on a linear scale, log_uniform on a log scale.
 */
function paramAxis(field, [kind, arg], values) {
  const numeric = values.every((v) => typeof v === 'number');
  if (kind === 'values' || !numeric) {
    const cats = kind === 'values' ? arg.slice() : [];
    for (const v of values) if (!cats.some((c) => key(c) === key(v))) cats.push(v);
    if (cats.every((c) => typeof c === 'number')) cats.sort((a, b) => a - b);
    const index = new Map(cats.map((c, i) => [key(c), i]));
    const frac = (v) => (cats.length === 1 ? 0.5 : index.get(key(v)) / (cats.length - 1));
    // Many categories: label every k-th.
    const every = Math.ceil(cats.length / 8);
    return { name: field, frac, ticks: cats.filter((_, i) => i % every === 0).map((c) => ({ f: frac(c), label: shorten(valueText(c), 12) })) };
  }
  let lo = Math.min(...values, ...(Array.isArray(arg) ? [arg[0]] : []));
  let hi = Math.max(...values, ...(Array.isArray(arg) ? [arg[1]] : []));
  const log = kind === 'log_uniform' && lo > 0;
  const t = (v) => (log ? Math.log10(v) : v);
  const frac = (v) => (hi === lo ? 0.5 : (t(v) - t(lo)) / (t(hi) - t(lo)));
  let tickValues = [lo, hi];
  if (log) {
    for (let e = Math.ceil(Math.log10(lo)); 10 ** e < hi; e++) tickValues.push(10 ** e);
  } else if (hi > lo) {
    tickValues.push((lo + hi) / 2);
  }
  tickValues = [...new Set(tickValues)].sort((a, b) => a - b);
  // Drop ticks that would touch the one below.
  const ticks = [];
  for (const v of tickValues) {
    if (!ticks.length || frac(v) - ticks[ticks.length - 1].f > 0.08 || v === hi) ticks.push({ f: frac(v), label: fmt(v, 3) });
  }
  if (ticks.length > 1 && ticks[ticks.length - 1].f - ticks[ticks.length - 2].f <= 0.08) ticks.splice(ticks.length - 2, 1);
  return { name: `${field}${log ? ' (log)' : ''}`, frac, ticks };
}

/** Trials' best values on an axis with the better end at the top. */
function metricAxis(metric, goal, values) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) { lo -= Math.abs(lo) * 0.05 || 0.05; hi += Math.abs(hi) * 0.05 || 0.05; }
  const frac = (v) => (goal === 'minimize' ? (hi - v) / (hi - lo) : (v - lo) / (hi - lo));
  return { name: `best ${metric}`, frac, metric: true,
    ticks: [lo, (lo + hi) / 2, hi].map((v) => ({ f: frac(v), label: metricText(metric, v) })) };
}

/** The parallel-coordinates chart (#sweep-parallel): a polyline per trial with a best value. */
export function parallelChart(sweep, labels) {
  const spec = sweep.spec || {};
  const goal = goalOf(spec);
  const fields = Object.keys(spec.space || {});
  const trials = sweep.trials.filter((t) => t.best && Number.isFinite(t.best.value));
  const fig = h(`figure#sweep-parallel.chart-figure${fields.length >= 3 ? '.wide' : ''}`,
    h('figcaption.chart-title', `Parallel coordinates: each line a trial, coloured by its best ${metricWords(spec.metric)}`));
  // At phone width the chart keeps a readable size and scrolls inside its own box.
  const m = { l: 64, r: 80, t: 44, b: 18 };
  const W = Math.max(420, m.l + m.r + 150 * fields.length), H = 300;
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart parallel', role: 'img',
    'aria-label': `Parallel coordinates of ${fields.join(', ')} and the best ${metricWords(spec.metric)}` });
  // The narrowest it may get (at phone width its box scrolls instead) and the widest, so
  // that its text stays readable and not large.
  svg.style.setProperty('--pc-min-width', `${Math.round(W * 0.78)}px`);
  svg.style.setProperty('--pc-max-width', `${Math.round(W * 1.2)}px`);
  fig.append(h('div.pc-scroll', svg));
  fig.dataset.lines = String(trials.length);
  if (!trials.length) {
    svg.append(svgEl('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'No trial has a value yet'));
    return fig;
  }
  const axes = fields.map((f) => paramAxis(f, domainOf(spec, f), trials.map((t) => t.params[f])));
  const mAxis = metricAxis(spec.metric, goal, trials.map((t) => t.best.value));
  axes.push(mAxis);
  const X = (i) => (axes.length === 1 ? W / 2 : m.l + (i * (W - m.l - m.r)) / (axes.length - 1));
  const Y = (f) => H - m.b - f * (H - m.t - m.b);

  // Worse lines first, so the better ones lie on top; the best is thicker.
  const order = trials.slice().sort((a, b) => mAxis.frac(a.best.value) - mAxis.frac(b.best.value));
  const bestId = sweep.best_trial ? sweep.best_trial.job_id : null;
  const lines = svgEl('g', { class: 'pc-lines' });
  for (const t of order) {
    const g = mAxis.frac(t.best.value);
    const pts = axes.map((a, i) => {
      const v = a.metric ? t.best.value : t.params[fields[i]];
      return `${X(i).toFixed(1)},${Y(a.frac(v)).toFixed(1)}`;
    }).join(' ');
    const line = svgEl('polyline', { points: pts, fill: 'none', stroke: ramp(g), 'stroke-width': t.job_id === bestId ? 3.5 : 1.8,
      'stroke-opacity': 0.85, 'stroke-dasharray': t.state === 'stopped' ? '5 3' : null, class: 'pc-line',
      'data-job-id': t.job_id, 'data-state': t.state });
    line.append(svgEl('title', {}, `${labels.get(t.job_id)} ${paramsText(t.params)} → ${metricText(spec.metric, t.best.value)}${t.state === 'stopped' ? ' (stopped)' : ''}`));
    lines.append(line);
  }
  svg.append(lines);

  const axesG = svgEl('g', { class: 'pc-axes' });
  axes.forEach((a, i) => {
    const x = X(i);
    const last = i === axes.length - 1;
    axesG.append(svgEl('line', { x1: x, x2: x, y1: Y(0), y2: Y(1), class: 'axis' }));
    const name = svgEl('text', { x: last ? Math.min(x, W - 60) : x, y: m.t - 22, 'text-anchor': 'middle', class: 'axis-label' }, shorten(a.name, 20));
    name.append(svgEl('title', {}, a.name));
    axesG.append(name);
    for (const tk of a.ticks) {
      axesG.append(svgEl('line', { x1: x - 3, x2: x + 3, y1: Y(tk.f), y2: Y(tk.f), class: 'axis' }));
      axesG.append(svgEl('text', { x: last ? x + 6 : x - 6, y: Y(tk.f) + 4, 'text-anchor': last ? 'start' : 'end', class: 'pc-tick' }, tk.label));
    }
  });
  axesG.append(svgEl('text', { x: Math.min(X(axes.length - 1), W - 60), y: m.t - 9, 'text-anchor': 'middle', class: 'pc-better' }, '(better ↑)'));
  svg.append(axesG);
  fig.append(h('p.chart-note', h('span.ramp', { 'aria-hidden': 'true' }), ' worse → better. Listed values sit evenly along their axis; ',
    'ranges are to scale (log-uniform on a log scale). Dashed: stopped early; thick: the best trial.'));
  return fig;
}

/**
 * Per swept field, the mean of the trials' best values at each value (ranges binned into
 * 3-5 bins), and the spread of those means: the fields that matter most come first.
 */
export function importance(spec, trials) {
  const done = trials.filter((t) => t.best && Number.isFinite(t.best.value));
  const goal = goalOf(spec);
  const out = [];
  for (const f of Object.keys(spec.space || {})) {
    const [kind, arg] = domainOf(spec, f);
    const pairs = done.filter((t) => f in (t.params || {})).map((t) => [t.params[f], t.best.value]);
    const distinct = new Set(pairs.map(([v]) => key(v)));
    let groups = [];
    if (kind !== 'values' && pairs.length && pairs.every(([v]) => typeof v === 'number') && distinct.size > 5) {
      const log = kind === 'log_uniform' && pairs.every(([v]) => v > 0);
      const t = (v) => (log ? Math.log10(v) : v);
      const back = (u) => (log ? 10 ** u : u);
      const lo = Math.min(...pairs.map(([v]) => t(v))), hi = Math.max(...pairs.map(([v]) => t(v)));
      const nb = pairs.length >= 20 ? 5 : pairs.length >= 10 ? 4 : 3;
      groups = Array.from({ length: nb }, (_, i) => {
        const a = back(lo + ((hi - lo) * i) / nb), b = back(lo + ((hi - lo) * (i + 1)) / nb);
        const label = kind === 'int_uniform' ? `${Math.ceil(a)}–${i === nb - 1 ? Math.floor(b) : Math.ceil(b) - 1}` : `${fmt(a, 2)}–${fmt(b, 2)}`;
        return { label, values: [] };
      });
      for (const [v, y] of pairs) {
        const i = hi === lo ? 0 : Math.min(nb - 1, Math.floor(((t(v) - lo) / (hi - lo)) * nb));
        groups[i].values.push(y);
      }
      groups = groups.filter((g) => g.values.length);
    } else {
      const order = kind === 'values' ? arg.map(key) : [];
      const byKey = new Map();
      for (const [v, y] of pairs) {
        const k = key(v);
        if (!byKey.has(k)) byKey.set(k, { label: valueText(v), value: v, values: [] });
        byKey.get(k).values.push(y);
      }
      groups = [...byKey.entries()].sort(([a, ga], [b, gb]) => {
        if (typeof ga.value === 'number' && typeof gb.value === 'number') return ga.value - gb.value;
        return order.indexOf(a) - order.indexOf(b);
      }).map(([, g]) => g);
    }
    for (const g of groups) g.mean = g.values.reduce((s, y) => s + y, 0) / g.values.length;
    const means = groups.map((g) => g.mean);
    const spread = groups.length > 1 ? Math.max(...means) - Math.min(...means) : 0;
    const best = groups.reduce((b, g) => (b === null || better(goal, g.mean, b.mean) ? g : b), null);
    out.push({ field: f, groups, spread, best, binned: kind !== 'values' && distinct.size > 5 });
  }
  return out.sort((a, b) => b.spread - a.spread);
}

/** "What matters most" (#sweep-importance): importance() as a bar per value, longer = better. */
export function importanceView(sweep) {
  const spec = sweep.spec || {};
  const goal = goalOf(spec);
  const rows = importance(spec, sweep.trials);
  const all = rows.flatMap((r) => r.groups.map((g) => g.mean));
  const lo = Math.min(...all), hi = Math.max(...all);
  const goodness = (v) => (hi === lo ? 1 : goal === 'minimize' ? (hi - v) / (hi - lo) : (v - lo) / (hi - lo));
  const enough = sweep.trials.filter((t) => t.best).length >= 2;
  const wide = Object.keys(spec.space || {}).length < 3;
  return h(`section#sweep-importance.card${wide ? '.wide' : ''}`, { 'aria-labelledby': 'sweep-importance-title', dataset: { fields: String(rows.length) } },
    h('h2#sweep-importance-title', 'What matters most'),
    h('p.muted.small', `For each swept field, the mean of the trials’ best ${metricWords(spec.metric)} at each of its values `,
      '(ranges in bins); the field whose means differ most comes first. Longer bar = better. ',
      'Early-stopped trials count with the best value they reached before stopping, which pulls their group down.'),
    enough ? h('div.importance-grid', rows.map((r) => h('div.importance-param', { dataset: { param: r.field, spread: String(r.spread) } },
      h('h3', h('code', r.field), h('span.muted.small', ` spread ${spreadText(spec.metric, r.spread)}`)),
      h('ul.bar-list', r.groups.map((g) => h(`li${g === r.best && r.groups.length > 1 ? '.best' : ''}`,
        h('span.bar-label', { title: g.label }, g.label),
        h('span.bar', { 'aria-hidden': 'true' }, h('span.bar-fill', { style: `width:${(6 + 94 * goodness(g.mean)).toFixed(1)}%` })),
        h('span.bar-value', `${metricText(spec.metric, g.mean)} `, h('span.muted', `(${g.values.length})`))))))))
      : h('p.muted', 'Not enough trials with a value yet.'));
}
