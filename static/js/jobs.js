// jobs.js — the live job list: status, dataset, spec summary, progress and test accuracy,
// refreshed every two seconds while the view is open; pick jobs to compare. A fork names its
// parent and a sweep trial its sweep, since both arrive in numbers and look alike otherwise.

import { api } from './api.js';
import { h, fill, pct, errorBox, isAbort, specSummary } from './dom.js';

export const statusBadge = (status) => h(`span.badge.status-${status}`, status);

export async function mount(root, ctx, route) {
  const filter = h('select#jobs-status-filter', { name: 'status' },
    ['all', 'queued', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => h('option', { value: s === 'all' ? '' : s }, s)));
  filter.value = route.query.get('status') || '';
  const compareBtn = h('button#compare-selected.primary', { type: 'button', disabled: true }, 'Compare selected');
  const tbody = h('tbody');
  const status = h('div#jobs-error', { 'aria-live': 'polite' });
  const selected = new Set();

  root.append(
    h('h1#view-title', 'Jobs'),
    h('p.lede', 'Every training run, newest first. Open one for its curves; tick several to compare them on the same axes.'),
    h('div.toolbar',
      h('div.field.inline', h('label', { for: 'jobs-status-filter' }, 'Status'), filter),
      compareBtn, h('a.button', { href: '#/train' }, 'New job')),
    status,
    h('div.table-wrap', h('table#jobs-table.jobs.cards',
      h('caption.sr-only', 'Training jobs'),
      h('thead', h('tr', ['', 'Status', 'Dataset', 'Network', 'Progress', 'Test accuracy', 'Created'].map((t, i) =>
        h('th', { scope: 'col' }, i === 0 ? h('span.sr-only', 'Select') : t)))),
      tbody)));

  compareBtn.addEventListener('click', () => { location.hash = `#/compare?ids=${[...selected].join(',')}`; });
  filter.addEventListener('change', () => { load(); });

  function row(j) {
    const box = h('input', { type: 'checkbox', 'aria-label': `select job ${j.id.slice(-6)} for comparison`, checked: selected.has(j.id) });
    box.addEventListener('change', () => {
      if (box.checked) selected.add(j.id); else selected.delete(j.id);
      compareBtn.disabled = selected.size < 1;
      compareBtn.textContent = `Compare selected (${selected.size})`;
    });
    const frac = j.progress ? j.progress.fraction : 0;
    return h('tr', { dataset: { jobId: j.id, status: j.status } },
      h('td.select', box),
      h('td', { 'data-label': 'Status' }, statusBadge(j.status)),
      h('td', { 'data-label': 'Dataset' }, j.spec ? j.spec.dataset : ''),
      h('td.network', { 'data-label': 'Network' }, h('a', { href: `#/jobs/${j.id}` }, specSummary(j.spec) || j.id), origin(j)),
      h('td', { 'data-label': 'Progress' }, h('progress', { max: '1', value: String(frac), 'aria-label': `progress ${Math.round(frac * 100)}%` }),
        h('span.muted.small', ` ${j.progress.epoch}/${j.progress.epochs}`)),
      h('td', { 'data-label': 'Test accuracy' }, j.result ? pct(j.result.test_accuracy) : (j.error ? h('span.muted', { title: j.error }, 'error') : '–')),
      h('td', { 'data-label': 'Created' }, h('time', { datetime: j.created_at }, new Date(j.created_at).toLocaleString())));
  }

  /** "fork of <parent>" or "sweep trial", linked, for jobs that did not come from the form. */
  function origin(j) {
    if (j.sweep_id) return [' ', h('a.origin.sweep-origin', { href: `#/sweeps/${j.sweep_id}` }, 'sweep trial')];
    if (j.parent_id) return [' ', h('a.origin.fork-origin', { href: `#/jobs/${j.parent_id}` }, `fork of ${j.parent_id.slice(-8)}`)];
    return null;
  }

  async function load() {
    try {
      const query = { limit: 100 };
      if (filter.value) query.status = filter.value;
      const jobs = await api.jobs(query, ctx.signal);
      if (!ctx.alive) return;
      fill(tbody, jobs.length ? jobs.map(row) : h('tr', h('td', { colspan: '7' }, 'No jobs yet. ', h('a', { href: '#/train' }, 'Train a network.'))));
      fill(status);
    } catch (e) {
      if (!isAbort(e)) fill(status, errorBox(e, 'Could not load the jobs'));
    }
  }
  await load();
  ctx.interval(load, 2000);
}
