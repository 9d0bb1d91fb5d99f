// lecture-xor.js — XOR seen from the hidden layer: the four inputs plotted in input space
// (x₁, x₂), where no line separates XOR's ones from its zeros, and in the hidden space
// (s₁, s₂) = (NAND, OR) of the XOR net, where the AND gate's line does.

import { h, fmt } from './dom.js';
import { svgEl } from './charts.js';

const S = 220, LO = -0.3, HI = 1.3;
const X = (x) => ((x - LO) / (HI - LO)) * S;
const Y = (y) => S - ((y - LO) / (HI - LO)) * S;

/** The half-plane w·p + b > 0 clipped to the plot's square, as polygon points. */
function halfPlane([w1, w2], b) {
  const f = ([x, y]) => w1 * x + w2 * y + b;
  const box = [[LO, LO], [HI, LO], [HI, HI], [LO, HI]];
  const poly = [];
  for (let i = 0; i < 4; i++) {
    const p = box[i], q = box[(i + 1) % 4], fp = f(p), fq = f(q);
    if (fp > 0) poly.push(p);
    if ((fp > 0) !== (fq > 0) && fp !== fq) {
      const t = fp / (fp - fq);
      poly.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
    }
  }
  return poly;
}

/**
 * One small plane: points {at: [a, b], output, input, label} (points at the same place are
 * fanned out so each stays visible) and an optional decision line {w, b}.
 */
function plane({ id, title, points, line, axes }) {
  const svg = svgEl('svg', { viewBox: `0 0 ${S} ${S}`, class: 'xor-plane', role: 'img', 'aria-label': title });
  svg.append(svgEl('rect', { x: 0, y: 0, width: S, height: S, class: 'plane-bg' }));
  if (line) {
    const poly = halfPlane(line.w, line.b);
    if (poly.length >= 3) svg.append(svgEl('polygon', { points: poly.map(([x, y]) => `${X(x)},${Y(y)}`).join(' '), class: 'plane-positive' }));
    const [w1, w2] = line.w;
    const a = [LO, -(line.b + w1 * LO) / w2], c = [HI, -(line.b + w1 * HI) / w2];
    svg.append(svgEl('line', { x1: X(a[0]), y1: Y(a[1]), x2: X(c[0]), y2: Y(c[1]), class: 'decision-line' }));
  }
  const seen = new Map();
  for (const p of points) {
    const key = p.at.join(',');
    const k = seen.get(key) || 0;
    seen.set(key, k + 1);
    const dx = k * 9, dy = k * -9;
    svg.append(svgEl('circle', { cx: X(p.at[0]) + dx, cy: Y(p.at[1]) + dy, r: 8, class: `xor-point out-${p.output}`,
      'data-input': p.input.join(','), 'data-output': p.output }, undefined));
    svg.lastChild.append(svgEl('title', {}, `input (${p.input.join(', ')}) → XOR ${p.output}`));
  }
  // One label per place: the inputs that land there and their XOR output.
  for (const [key, group] of groupBy(points)) {
    const [a, b] = key.split(',').map(Number);
    const text = `${group.map((p) => `(${p.input.join(',')})`).join(' ')} → ${group[0].output}`;
    // Beside the point, towards the middle: to the right of a left point, above a top-right
    // one (clear of the label to its left and of a fanned-out twin).
    const right = a < 0.5, above = b < 0.5 || !right;
    svg.append(svgEl('text', { x: X(a) + (right ? 14 : -14), y: Y(b) + (above ? -14 : 24), class: 'pt-label', 'text-anchor': right ? 'start' : 'end' }, text));
  }
  svg.append(svgEl('text', { x: S / 2, y: S - 4, 'text-anchor': 'middle', class: 'axis-label' }, axes[0]),
    svgEl('text', { x: 4, y: S / 2, class: 'axis-label' }, axes[1]));
  return h('figure.xor-figure', { id }, svg, h('figcaption', title));
}

function groupBy(points) {
  const m = new Map();
  for (const p of points) {
    const key = p.at.join(',');
    if (!m.has(key)) m.set(key, []);
    m.get(key).push(p);
  }
  return m;
}

/**
 * rows: [{x1, x2, s1, s2, y}] from the XOR net's gate tables; and: the AND gate {w, b}
 * that reads (s₁, s₂).
 */
export function xorPlanes(rows, and) {
  const points = (hidden) => rows.map((r) => ({ at: hidden ? [r.s1, r.s2] : [r.x1, r.x2], input: [r.x1, r.x2], output: r.y }));
  return h('div#xor-planes.xor-planes',
    plane({ id: 'xor-input', title: 'Input space (x₁, x₂): no single line separates the ones (filled) from the zeros.', points: points(false), axes: ['x₁', 'x₂'] }),
    plane({ id: 'xor-hidden', title: `Hidden space (s₁, s₂) = (NAND, OR): the AND line ${fmt(and.w[0])}s₁ + ${fmt(and.w[1])}s₂ ${and.b < 0 ? '−' : '+'} ${fmt(Math.abs(and.b))} = 0 separates them.`,
      points: points(true), line: and, axes: ['s₁', 's₂'] }));
}
