// dom.js — tiny DOM helpers shared by the views: element builder, number formatting,
// visible error boxes, labelled form fields, and the per-view lifecycle context.

/** h('div.card#x', {attrs}, ...children) — children may be strings, nodes, arrays or null. */
export function h(tag, attrs, ...children) {
  const m = tag.match(/^([a-z0-9-]+)((?:[.#][\w-]+)*)$/i);
  const el = document.createElement(m ? m[1] : tag);
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === '.') el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'text') el.textContent = v;
    // Through the CSSOM: the Content-Security-Policy refuses inline style attributes.
    else if (k === 'style') el.style.cssText = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (typeof x !== 'number') return String(x);
  if (x !== 0 && (Math.abs(x) < 1e-4 || Math.abs(x) >= 1e5)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}

export const pct = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  if (seconds < 1) return `${Math.max(1, Math.round(seconds * 1000))} ms`;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

/** A visible error message (role=alert) for a failed API call or anything else. */
export function errorBox(err, prefix = '') {
  const msg = err && err.message ? err.message : String(err);
  return h('p.error', { role: 'alert' }, prefix ? `${prefix}: ${msg}` : msg);
}

/**
 * A labelled control (a checkbox before its label) with an optional help line and an error
 * line under it (p.field-error#errId, filled by the caller), both in the control's
 * aria-describedby. `inline` for a row of fields; `attrs` go on the div.field.
 */
export function field(label, control, { help = null, errId = `${control.id}-err`, inline = false, attrs = null } = {}) {
  const helpId = help ? `${control.id}-help` : null;
  control.setAttribute('aria-describedby', [helpId, errId].filter(Boolean).join(' '));
  const check = control.type === 'checkbox';
  const labelEl = h('label', { for: control.id }, label);
  return h(`div.field${check ? '.check' : ''}${inline ? '.inline' : ''}`, attrs,
    check ? [control, labelEl] : [labelEl, control],
    help ? h('small.help', { id: helpId }, help) : null,
    h('p.field-error', { id: errId, 'aria-live': 'polite' }));
}

/** Replaces el's content with the given children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A view's lifecycle: an AbortSignal for its fetches, timers and cleanups run when the
 * user navigates away (so no EventSource or poll outlives its view).
 */
export class ViewContext {
  constructor() {
    this.controller = new AbortController();
    this.cleanups = [];
  }
  get signal() { return this.controller.signal; }
  get alive() { return !this.controller.signal.aborted; }
  onCleanup(fn) { this.cleanups.push(fn); return fn; }
  interval(fn, ms) { const t = setInterval(fn, ms); this.onCleanup(() => clearInterval(t)); return t; }
  timeout(fn, ms) { const t = setTimeout(fn, ms); this.onCleanup(() => clearTimeout(t)); return t; }
  destroy() {
    this.controller.abort();
    for (const fn of this.cleanups.splice(0)) {
      try { fn(); } catch (e) { console.warn('cleanup failed', e); }
    }
  }
}

/** Whether an error is just our own abort on leaving a view. */
export const isAbort = (e) => e && e.name === 'AbortError';

/** Short, human description of a job spec (architecture and training). */
export function specSummary(spec) {
  if (!spec) return '';
  const layers = spec.hidden_layers && spec.hidden_layers.length ? spec.hidden_layers.join('-') : 'softmax';
  const parts = [layers, spec.activation, spec.init];
  if (spec.optimizer) parts.push(`${spec.optimizer} ${fmt(spec.learning_rate)}`);
  if (spec.l2) parts.push(`L2 ${fmt(spec.l2)}`);
  if (spec.l1) parts.push(`L1 ${fmt(spec.l1)}`);
  if (spec.dropout) parts.push(`dropout ${fmt(spec.dropout)}`);
  if (spec.batch_norm) parts.push('batch norm');
  if (spec.train_samples) parts.push(`${spec.train_samples} samples`);
  return parts.filter(Boolean).join(' · ');
}
