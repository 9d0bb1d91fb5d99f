// lecture-paths.js — the eight optimizers on a 2-D function: the paths come from
// /experiments/optimizers (the engine's own update code); the contour plot under them is
// computed here from the same formulas, on a grid, with log-spaced levels.

import { api, ApiError } from './api.js';
import { h, fill, fmt, errorBox, isAbort } from './dom.js';
import { svgEl, ticks, PALETTE } from './charts.js';

const OPTIMIZERS = ['sgd', 'momentum', 'nag', 'adagrad', 'rmsprop', 'adadelta', 'adam', 'nadam'];
const COLOR = Object.fromEntries(OPTIMIZERS.map((o, i) => [o, PALETTE[i]]));

/**
 * The named functions: the server's formulas (src/api/graphs.rs) for the contours, the
 * range drawn, the minimum marked, and defaults that show something on each: learning
 * rates per optimizer and which are drawn at first. The bowl's are the book's.
 */
const FUNCS = {
  bowl: {
    label: 'bowl: x²/20 + y²', f: (x, y) => x * x / 20 + y * y, x: [-10, 10], y: [-5, 5], min: [0, 0],
    start: [-7, 2], steps: 30, on: ['sgd', 'momentum', 'adagrad', 'adam'],
    lr: { sgd: 0.95, momentum: 0.1, nag: 0.1, adagrad: 1.5, rmsprop: 0.1, adadelta: 1, adam: 0.3, nadam: 0.3 },
  },
  rosenbrock: {
    label: 'Rosenbrock: (1−x)² + 100(y−x²)²', f: (x, y) => (1 - x) ** 2 + 100 * (y - x * x) ** 2, x: [-2, 2], y: [-1, 3], min: [1, 1],
    start: [-1.2, 1], steps: 500, on: ['sgd', 'momentum', 'rmsprop', 'adam'],
    lr: { sgd: 0.002, momentum: 0.002, nag: 0.002, adagrad: 0.5, rmsprop: 0.01, adadelta: 10, adam: 0.1, nadam: 0.1 },
  },
  saddle: {
    label: 'saddle: x² − y²', f: (x, y) => x * x - y * y, x: [-5, 5], y: [-5, 5], min: [0, 0], minLabel: 'saddle point',
    start: [-4, 0.01], steps: 25, on: ['sgd', 'momentum', 'rmsprop', 'adam'],
    lr: { sgd: 0.1, momentum: 0.05, nag: 0.05, adagrad: 0.5, rmsprop: 0.1, adadelta: 10, adam: 0.3, nadam: 0.3 },
  },
  beale: {
    label: 'Beale', f: (x, y) => (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y ** 3) ** 2,
    x: [-0.5, 4.5], y: [-1.5, 2.5], min: [3, 0.5],
    start: [1, 1.5], steps: 300, on: ['sgd', 'momentum', 'adagrad', 'adam'],
    lr: { sgd: 0.01, momentum: 0.002, nag: 0.002, adagrad: 0.5, rmsprop: 0.01, adadelta: 10, adam: 0.05, nadam: 0.05 },
  },
};
const W = 640, M = { l: 44, r: 12, t: 10, b: 34 };

/** Values of f on an (nx+1)×(ny+1) vertex grid over the range, row by row from y0. */
function sample(f, [x0, x1], [y0, y1], nx, ny) {
  const v = new Float64Array((nx + 1) * (ny + 1));
  for (let j = 0; j <= ny; j++) {
    for (let i = 0; i <= nx; i++) v[j * (nx + 1) + i] = f(x0 + (i / nx) * (x1 - x0), y0 + (j / ny) * (y1 - y0));
  }
  return v;
}

/**
 * Log-spaced levels above the grid's minimum: level k sits at min + span·10^(−d + d·k/n),
 * so the flat valley floor gets as many lines as the steep walls (a saddle, negative
 * below, is shifted the same way).
 */
function levels(v, n = 14, decades = 5) {
  let lo = Infinity, hi = -Infinity;
  for (const a of v) { if (a < lo) lo = a; if (a > hi) hi = a; }
  const span = hi - lo || 1;
  return { lo, span, decades, list: Array.from({ length: n }, (_, k) => lo + span * 10 ** (-decades + (decades * k) / n)) };
}

/**
 * Marching squares: for each level one path of segments (in grid units) where the
 * bilinear surface crosses it; a saddle cell is resolved by its centre value.
 */
function contourSegments(v, nx, ny, level) {
  const segs = [];
  const at = (i, j) => v[j * (nx + 1) + i];
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const c = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]];
      const val = c.map(([a, b]) => at(a, b));
      const pts = [];
      for (let k = 0; k < 4; k++) {
        const a = val[k], b = val[(k + 1) % 4];
        if ((a >= level) !== (b >= level)) {
          const t = (level - a) / (b - a), p = c[k], q = c[(k + 1) % 4];
          pts.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
        }
      }
      if (pts.length === 2) segs.push([pts[0], pts[1]]);
      else if (pts.length === 4) {
        const centre = val.reduce((a, b) => a + b, 0) / 4;
        // Crossings on edges 0..3 (bottom, right, top, left): if the centre sides with
        // corners 0 and 2, the line cuts off corners 1 and 3, else corners 0 and 2.
        if ((centre >= level) === (val[0] >= level)) segs.push([pts[0], pts[1]], [pts[2], pts[3]]);
        else segs.push([pts[3], pts[0]], [pts[1], pts[2]]);
      }
    }
  }
  return segs;
}

/** The filled bands: one pixel per grid vertex, pale blue in the valleys, as a data URL. */
function bandImage(v, nx, ny, lv) {
  const canvas = document.createElement('canvas');
  canvas.width = nx + 1; canvas.height = ny + 1;
  const g = canvas.getContext('2d');
  const img = g.createImageData(nx + 1, ny + 1);
  const floor = lv.span * 10 ** -lv.decades, n = lv.list.length;
  for (let j = 0; j <= ny; j++) {
    for (let i = 0; i <= nx; i++) {
      const a = v[j * (nx + 1) + i];
      const u = Math.min(1, Math.max(0, Math.log10(Math.max(a - lv.lo, floor) / floor) / lv.decades));
      const t = Math.floor(u * n) / n; // banded: filled contours between the levels
      const k = ((ny - j) * (nx + 1) + i) * 4; // image rows run top-down, y up
      img.data[k] = 190 + 63 * t; img.data[k + 1] = 212 + 38 * t; img.data[k + 2] = 236 + 4 * t; img.data[k + 3] = 255;
    }
  }
  g.putImageData(img, 0, 0);
  return canvas.toDataURL();
}

/** The drawing range: the function's own, or for a custom one the paths' bounding box. */
function rangeFor(fn, paths, start) {
  if (fn) {
    const grow = ([a, b], v) => [Math.min(a, v - (b - a) * 0.05), Math.max(b, v + (b - a) * 0.05)];
    return [grow(fn.x, start[0]), grow(fn.y, start[1])];
  }
  const pts = paths.flatMap((p) => p.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  return [0, 1].map((k) => {
    let lo = Math.min(start[k], ...pts.map((p) => p[k])), hi = Math.max(start[k], ...pts.map((p) => p[k]));
    const pad = (hi - lo || 2) * 0.08;
    return [lo - pad, hi + pad];
  });
}

function drawPlot(res, fn, start) {
  const [[x0, x1], [y0, y1]] = rangeFor(fn, res.paths, start);
  const pw = W - M.l - M.r;
  const ph = Math.round(pw * Math.min(1, Math.max(0.45, (y1 - y0) / (x1 - x0))));
  const H = ph + M.t + M.b;
  const X = (x) => M.l + ((x - x0) / (x1 - x0)) * pw;
  const Y = (y) => M.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const svg = svgEl('svg', { id: 'paths-svg', viewBox: `0 0 ${W} ${H}`, class: 'paths-svg', role: 'img',
    'aria-label': `optimizer paths on ${res.expression}`, 'data-function': fn ? fn.key : 'custom' });
  // A square plot as wide as a flat one would not fit a laptop screen: cap its height.
  svg.style.maxWidth = `${Math.round(Math.min(760, (560 * W) / H))}px`;
  const clip = svgEl('clipPath', { id: 'paths-clip' });
  clip.append(svgEl('rect', { x: M.l, y: M.t, width: pw, height: ph }));
  svg.append(svgEl('defs', {}), svgEl('rect', { x: M.l, y: M.t, width: pw, height: ph, class: 'plot-bg' }));
  svg.firstChild.append(clip);
  const plot = svgEl('g', { 'clip-path': 'url(#paths-clip)' });
  svg.append(plot);
  if (fn) {
    const nx = 120, ny = Math.max(20, Math.round((nx * ph) / pw));
    const v = sample(fn.f, [x0, x1], [y0, y1], nx, ny);
    const lv = levels(v);
    plot.append(svgEl('image', { href: bandImage(v, nx, ny, lv), x: M.l, y: M.t, width: pw, height: ph, preserveAspectRatio: 'none' }));
    const gx = (i) => M.l + (i / nx) * pw, gy = (j) => M.t + ph - (j / ny) * ph;
    for (const level of lv.list) {
      const d = contourSegments(v, nx, ny, level).map(([[a, b], [c, e]]) =>
        `M${gx(a).toFixed(1)},${gy(b).toFixed(1)}L${gx(c).toFixed(1)},${gy(e).toFixed(1)}`).join('');
      if (d) plot.append(svgEl('path', { d, class: 'contour', 'data-level': fmt(level, 3) }));
    }
    const [mx, my] = fn.min;
    plot.append(svgEl('path', { d: `M${X(mx) - 6},${Y(my) - 6}L${X(mx) + 6},${Y(my) + 6}M${X(mx) - 6},${Y(my) + 6}L${X(mx) + 6},${Y(my) - 6}`, class: 'minimum' }),
      svgEl('text', { x: X(mx) + (X(mx) > M.l + pw * 0.6 ? -8 : 8), y: Y(my) + 18, class: 'min-label',
        'text-anchor': X(mx) > M.l + pw * 0.6 ? 'end' : 'start' }, fn.minLabel || `minimum (${mx}, ${my})`));
  }
  // Axes with round ticks.
  const axes = svgEl('g', { class: 'paths-axes' });
  for (const t of ticks(x0, x1, 6)) axes.append(svgEl('text', { x: X(t), y: H - M.b + 16, 'text-anchor': 'middle' }, fmt(t)));
  for (const t of ticks(y0, y1, 5)) axes.append(svgEl('text', { x: M.l - 5, y: Y(t) + 4, 'text-anchor': 'end' }, fmt(t)));
  // The axis names sit inside the plot's corners, clear of the tick labels at any size.
  axes.append(svgEl('text', { x: M.l + pw - 6, y: M.t + ph - 6, 'text-anchor': 'end', class: 'axis-label' }, 'x'),
    svgEl('text', { x: M.l + 6, y: M.t + 18, class: 'axis-label' }, 'y'),
    svgEl('rect', { x: M.l, y: M.t, width: pw, height: ph, class: 'plot-frame' }));
  svg.append(axes);
  // The paths, each a polyline with a dot per step (when few) and a head at its end.
  const drawn = res.paths.map((p) => {
    const pts = p.points.map(([x, y]) => [X(x), Y(y)]);
    const g = svgEl('g', { class: `opt-path${p.stopped ? ' stopped' : ''}`, 'data-optimizer': p.optimizer, 'data-points': p.points.length });
    const line = svgEl('polyline', { fill: 'none', stroke: COLOR[p.optimizer], points: '' });
    const dots = pts.length <= 61 ? pts.map(([x, y]) => svgEl('circle', { cx: x, cy: y, r: 2.2, fill: COLOR[p.optimizer] })) : [];
    const head = svgEl('circle', { r: 4.5, fill: COLOR[p.optimizer], class: 'path-head' });
    g.append(line, ...dots, head, svgEl('title', {}, `${p.optimizer}, learning rate ${fmt(p.learning_rate)}`));
    plot.append(g);
    return { pts, line, dots, head };
  });
  plot.append(svgEl('circle', { cx: X(start[0]), cy: Y(start[1]), r: 5, class: 'path-start' }));
  /** Shows every path up to step k (all of a shorter one). */
  const show = (k) => {
    for (const d of drawn) {
      const n = Math.min(d.pts.length, k + 1);
      d.line.setAttribute('points', d.pts.slice(0, n).map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '));
      d.dots.forEach((c, i) => c.setAttribute('display', i < n ? 'inline' : 'none'));
      const last = d.pts[n - 1];
      if (last) { d.head.setAttribute('cx', last[0]); d.head.setAttribute('cy', last[1]); }
    }
  };
  const longest = Math.max(1, ...drawn.map((d) => d.pts.length));
  show(longest);
  return { svg, show, longest };
}

function legend(res) {
  return h('ul#paths-legend.legend.paths-legend', res.paths.map((p) => {
    const n = p.points.length, last = p.points[n - 1], f = p.values[p.values.length - 1];
    return h('li', { dataset: { optimizer: p.optimizer }, class: p.stopped ? 'stopped' : null },
      h('span.swatch', { style: `background:${COLOR[p.optimizer]}`, 'aria-hidden': 'true' }),
      h('span', h('strong', p.optimizer), ` lr ${fmt(p.learning_rate)}: `,
        p.stopped ? h('span.stop-note', p.stopped)
          : `f = ${fmt(f)} at (${fmt(last[0])}, ${fmt(last[1])}) after ${n - 1} steps`));
  }));
}

export function pathsSection(ctx) {
  const fnSel = h('select#paths-function', Object.entries(FUNCS).map(([k, f]) => h('option', { value: k }, f.label)),
    h('option', { value: 'custom' }, 'custom expression…'));
  const exprInput = h('input#paths-expression', { type: 'text', value: 'x^2/20 + y^2', spellcheck: 'false', autocomplete: 'off', autocapitalize: 'off' });
  const exprField = h('div.field.paths-expression-field', { hidden: true }, h('label', { for: 'paths-expression' }, 'f(x, y) ='), exprInput);
  const num = (id, label, step = 'any') => {
    const input = h('input', { id, type: 'number', step, inputmode: 'decimal' });
    return [input, h('div.field.inline', h('label', { for: id }, label), input)];
  };
  const [sx, sxW] = num('paths-start-x', 'start x'), [sy, syW] = num('paths-start-y', 'start y');
  const [steps, stepsW] = num('paths-steps', 'steps', '1');
  const rows = Object.fromEntries(OPTIMIZERS.map((o) => {
    const use = h('input', { id: `paths-use-${o}`, type: 'checkbox', dataset: { include: o } });
    const lr = h('input', { id: `paths-lr-${o}`, type: 'number', step: 'any', min: '0', inputmode: 'decimal', dataset: { optimizer: o }, 'aria-label': `${o} learning rate` });
    const box = h('div.opt-choice', h('span.swatch', { style: `background:${COLOR[o]}`, 'aria-hidden': 'true' }),
      use, h('label', { for: use.id }, o), h('span.lr-label', { 'aria-hidden': 'true' }, 'lr'), lr);
    return [o, { use, lr, box }];
  }));
  const form = h('form#paths-form', { novalidate: true },
    h('div.inline-fields', h('div.field.inline', h('label', { for: 'paths-function' }, 'Function'), fnSel), exprField, sxW, syW, stepsW),
    h('fieldset.opt-grid', h('legend', 'Optimizers (tick to draw) and learning rates'), OPTIMIZERS.map((o) => rows[o].box)),
    h('div.button-row', h('button#paths-run.primary', { type: 'submit' }, 'Draw paths'),
      h('button#paths-animate', { type: 'button' }, 'Animate')));
  const error = h('div#paths-error', { 'aria-live': 'polite' });
  const plotBox = h('div.paths-plot');
  const note = h('p#paths-note.small.muted');
  const legendBox = h('div');

  let seq = 0, timer = null, raf = 0, drawn = null, lastExpression = null, exprEdited = false;
  const stopAnimation = () => { cancelAnimationFrame(raf); raf = 0; plotBox.dataset.animating = 'false'; };
  ctx.onCleanup(() => { clearTimeout(timer); stopAnimation(); });

  function defaults(key) {
    const fn = FUNCS[key];
    sx.value = fn.start[0]; sy.value = fn.start[1]; steps.value = fn.steps;
    for (const o of OPTIMIZERS) { rows[o].lr.value = fn.lr[o]; rows[o].use.checked = fn.on.includes(o); }
  }

  function clearInvalid() {
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }

  /** The input a 422's field names: expression, start, steps, optimizers[i].<...>. */
  function inputFor(field, chosen) {
    if (field === 'expression') return [exprInput];
    if (field === 'start') return [sx, sy];
    if (field === 'steps') return [steps];
    const m = /^optimizers\[(\d+)\]/.exec(field || '');
    if (m && chosen[Number(m[1])]) return [rows[chosen[Number(m[1])]].lr];
    return [];
  }

  async function run() {
    const my = ++seq;
    stopAnimation();
    clearInvalid();
    const key = fnSel.value, fn = FUNCS[key] ? { ...FUNCS[key], key } : null;
    const chosen = OPTIMIZERS.filter((o) => rows[o].use.checked);
    const bad = [sx, sy, steps, ...chosen.map((o) => rows[o].lr)].find((i) => i.value.trim() === '' || !Number.isFinite(Number(i.value)));
    if (bad) { bad.setAttribute('aria-invalid', 'true'); fill(error, h('p.error', { role: 'alert' }, `Enter a number for ${bad.getAttribute('aria-label') || bad.id.replace('paths-', '').replace('-', ' ')}.`)); return; }
    if (!chosen.length) { fill(error, h('p.error', { role: 'alert' }, 'Tick at least one optimizer.')); return; }
    const start = [Number(sx.value), Number(sy.value)];
    const body = { ...(fn ? { function: key } : { expression: exprInput.value }), start, steps: Number(steps.value),
      optimizers: chosen.map((o) => ({ name: o, learning_rate: Number(rows[o].lr.value) })) };
    try {
      const res = await api.optimizerPaths(body, ctx.signal);
      if (my !== seq) return;
      fill(error);
      lastExpression = res.expression;
      drawn = drawPlot(res, fn, start);
      fill(plotBox, drawn.svg);
      fill(legendBox, legend(res));
      note.textContent = fn
        ? `f(x, y) = ${res.expression}. Contours at log-spaced levels (the valley floor gets as many as the walls); ✕ marks the ${fn.minLabel || 'minimum'}, the black dot the start.`
        : `f(x, y) = ${res.expression}. No contours for a custom expression: drawing them would take one request per grid point. The range is the paths’ bounding box; the black dot is the start.`;
    } catch (e) {
      if (isAbort(e) || my !== seq) return;
      for (const el of inputFor(e instanceof ApiError ? e.field : null, chosen)) el.setAttribute('aria-invalid', 'true');
      fill(error, errorBox(e, e.field === 'expression' ? 'Expression' : ''));
    }
  }
  const later = (ms) => { clearTimeout(timer); timer = setTimeout(run, ms); };

  /** Replays every path from the start, one step per frame tick, all in step. */
  function animate() {
    if (!drawn) return;
    stopAnimation();
    const { show, longest } = drawn;
    const duration = Math.min(6000, Math.max(1500, longest * 60));
    const t0 = performance.now();
    plotBox.dataset.animating = 'true';
    const frame = (now) => {
      if (!ctx.alive) return;
      const k = Math.min(longest - 1, Math.floor(((now - t0) / duration) * (longest - 1)));
      show(k);
      if (k < longest - 1) raf = requestAnimationFrame(frame);
      else stopAnimation();
    };
    show(0);
    raf = requestAnimationFrame(frame);
  }

  fnSel.addEventListener('change', () => {
    if (FUNCS[fnSel.value]) defaults(fnSel.value);
    // Custom starts from the function just shown, in the server's syntax, to edit.
    else if (!exprEdited && lastExpression) exprInput.value = lastExpression;
    exprField.hidden = fnSel.value !== 'custom';
    clearTimeout(timer);
    run();
  });
  form.addEventListener('input', (ev) => {
    if (ev.target === exprInput) exprEdited = true;
    if (ev.target !== fnSel) later(ev.target === exprInput ? 500 : 300);
  });
  form.addEventListener('change', (ev) => { if (ev.target.type === 'checkbox') later(0); });
  form.addEventListener('submit', (ev) => { ev.preventDefault(); clearTimeout(timer); run(); });
  form.querySelector('#paths-animate').addEventListener('click', animate);
  defaults('bowl');
  run();

  return h('section#paths-widget.card', { 'aria-labelledby': 'paths-title' },
    h('h2#paths-title', { tabindex: '-1' }, 'Optimizers on a 2-D function'),
    h('p', 'Each optimizer takes the same number of steps from the same start, with the update code that trains the networks here. On the book’s bowl SGD zig-zags across the narrow valley, momentum rolls like a ball and overshoots, AdaGrad shrinks its steps along the steep y axis and heads almost straight for the minimum, Adam combines the two. AdaDelta needs no learning rate of its own (its step is a ratio of running averages): the value here only scales it.'),
    form, error, plotBox, legendBox, note);
}
