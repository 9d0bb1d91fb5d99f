// sweeps-text.js — the sweeps' metrics and values for people, shared by both sweep views
// and the sweep page's charts: the metrics' names, which way is better, a metric value or a
// swept value as text. In a file of their own so that sweeps.js, sweep.js and
// sweeps-charts.js can all use them without importing each other.

import { fmt, pct } from './dom.js';

export const METRICS = [['val_accuracy', 'validation accuracy'], ['val_loss', 'validation loss'],
  ['train_accuracy', 'training accuracy'], ['train_loss', 'training loss']];

export const metricWords = (m) => (METRICS.find(([k]) => k === m) || [m, m])[1];
export const goalOf = (spec) => spec.goal || (String(spec.metric).endsWith('_loss') ? 'minimize' : 'maximize');
export const better = (goal, a, b) => (goal === 'minimize' ? a < b : a > b);
/** A metric value: accuracies as percentages, losses as numbers. */
export const metricText = (metric, v) => (v === null || v === undefined || !Number.isFinite(v) ? '–'
  : String(metric).endsWith('_accuracy') ? pct(v) : fmt(v, 4));
// A value's identity for Maps, lists of values and "has it changed" checks: swept values may
// be lists ([64] vs [128, 64]), which compare by content only as text.
export const key = (v) => JSON.stringify(v);

/** A swept value for people: lists in brackets, numbers short. */
export function valueText(v) {
  if (v === null || v === undefined) return '–';
  if (Array.isArray(v)) return `[${v.map(valueText).join(', ')}]`;
  if (typeof v === 'number') return fmt(v, 4);
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}: ${valueText(x)}`).join(', ');
  return String(v);
}
export const paramsText = (params) => Object.entries(params || {}).map(([k, v]) => `${k} ${valueText(v)}`).join(' · ');
