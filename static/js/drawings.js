// drawings.js — the draw page's Drawings panel: the digits saved with their labels (the newest
// as thumbnails, each deletable), export links, and the drawings leaderboard: MNIST models
// ranked by accuracy on these drawings beside their MNIST test accuracy, with one model's
// confusion matrix and misclassified drawings on request. Real handwriting is not MNIST: the
// gap between the two accuracies is the point of the panel.

import { api } from './api.js';
import { h, fill, pct, errorBox, isAbort, specSummary } from './dom.js';
import { confusionTable, imageCanvas } from './charts.js';

const SHOWN = 100;        // thumbnails: the newest this many

/** 'model 3f2a9c1d': models have no names; the end of a UUIDv7 is its random part. */
export const modelName = (m) => `model ${String(m.id || m.model_id).slice(-8)}`;

/** Signed difference in percentage points, e.g. '−12.3 pts'. */
const points = (d) => (d === null ? '–' : `${d < 0 ? '−' : d > 0 ? '+' : '±'}${Math.abs(d * 100).toFixed(1)} pts`);

/** A function that aborts the previous call's signal and hands out a new one (latest wins). */
function latest(ctx) {
  let ctl = null;
  ctx.onCleanup(() => { if (ctl) ctl.abort(); });
  return () => { if (ctl) ctl.abort(); ctl = new AbortController(); return ctl.signal; };
}

/**
 * The panel: {el, refresh()}. `models()` gives the page's MNIST models (for their specs);
 * refresh() re-reads the drawings and the leaderboard (after a save or a delete).
 */
export function drawingsPanel(ctx, { models = () => [] } = {}) {
  const count = h('p#drawings-count', { 'aria-live': 'polite', tabindex: '-1', dataset: { total: '' } });
  const exportLinks = h('p#drawings-export.button-row', { hidden: true },
    h('span', 'Download them:'),
    h('a#export-idx.button', { href: '/api/v1/drawings/export?format=idx', download: 'drawings.tar' }, 'IDX files (tar, MNIST\'s layout)'),
    h('a#export-csv.button', { href: '/api/v1/drawings/export?format=csv', download: 'drawings.csv' }, 'CSV'));
  const list = h('ul#drawings-list.digit-grid.drawing-grid', { 'aria-label': 'saved drawings, newest first' });
  const listError = h('div#drawings-error');
  const board = h('div#drawings-board');
  const evaluation = h('div#drawings-evaluation', { tabindex: '-1' });
  const el = h('section#drawings.card', { 'aria-labelledby': 'drawings-title' },
    h('h2#drawings-title', 'Your drawings'),
    h('p.muted', 'The digits you saved with their label, a small test set of real handwriting. Each is stored as the 28×28 image MNIST preprocessing makes of it, whatever the switch above says.'),
    count, exportLinks, list, listError,
    h('h3#leaderboard-title', 'Drawings leaderboard'),
    h('p.muted.small', 'How the MNIST models read your drawings, beside their accuracy on MNIST\'s own test set: the gap is how far MNIST is from your handwriting.'),
    board, evaluation);

  const nextList = latest(ctx);
  const nextBoard = latest(ctx);
  const nextEval = latest(ctx);
  let evaluated = null;   // the model whose evaluation is shown, re-run when the drawings change
  let total = 0;

  async function refreshList() {
    const signal = nextList();
    try {
      const res = await api.drawings({ limit: SHOWN, order: 'newest' }, signal);
      if (signal.aborted) return;
      renderList(res);
      fill(listError);
    } catch (e) {
      if (!isAbort(e)) fill(listError, errorBox(e, 'Could not load the drawings'));
    }
  }

  function renderList(res) {
    total = res.total;
    const shown = res.drawings;
    count.dataset.total = String(total);
    count.textContent = total === 0 ? 'No drawings saved yet: draw a digit above, pick its digit and press "Save as".'
      : `${total} drawing${total === 1 ? '' : 's'} saved.${total > shown.length ? ` Showing the newest ${shown.length}.` : ''}`;
    exportLinks.hidden = total === 0;
    fill(list, shown.map((d) => {
      const del = h('button.delete-drawing', { type: 'button', 'aria-label': `Delete this drawing of a ${d.label}` }, 'Delete');
      const li = h('li', { dataset: { drawingId: d.id, label: String(d.label) } },
        imageCanvas(d.image.flat(), { scale: 2, label: `your drawing of a ${d.label}` }),
        h('span.drawing-label', String(d.label)), del);
      del.addEventListener('click', () => remove(d, li, del));
      return li;
    }));
  }

  async function remove(d, li, btn) {
    btn.disabled = true;
    try {
      await api.deleteDrawing(d.id, ctx.signal);
      // Focus moves to the next thumbnail's button (or the count) instead of getting lost.
      const next = (li.nextElementSibling || li.previousElementSibling);
      li.remove();
      if (next) next.querySelector('button').focus(); else count.focus();
      refresh();
    } catch (e) {
      if (isAbort(e)) return;
      btn.disabled = false;
      fill(listError, errorBox(e, 'Could not delete the drawing'));
    }
  }

  async function refreshBoard() {
    const signal = nextBoard();
    if (!board.firstChild) fill(board, h('p.muted', 'Scoring the models on your drawings…'));
    board.setAttribute('aria-busy', 'true');
    try {
      const lb = await api.drawingsLeaderboard(signal);
      if (signal.aborted) return;
      renderBoard(lb);
    } catch (e) {
      if (!isAbort(e)) fill(board, errorBox(e, 'Could not rank the models'));
    } finally {
      if (!signal.aborted) board.removeAttribute('aria-busy');
    }
  }

  function renderBoard(lb) {
    if (!lb.models.length) { fill(board, h('p.muted', 'There is no MNIST model to rank yet.')); return; }
    if (!lb.drawings) {
      fill(board, h('p.muted', `Save a few drawings to rank the ${lb.models.length} newest MNIST model${lb.models.length === 1 ? '' : 's'} on them.`));
      return;
    }
    const known = new Map(models().map((m) => [m.id, m]));
    const rows = lb.models.map((m, i) => {
      const gap = m.accuracy === null || m.test_accuracy === null ? null : m.accuracy - m.test_accuracy;
      const spec = known.get(m.model_id);
      const btn = h('button.evaluate', { type: 'button', dataset: { modelId: m.model_id }, 'aria-label': `Evaluate ${modelName(m)} on the drawings` }, 'Evaluate');
      btn.addEventListener('click', () => evaluate(m.model_id));
      return h('tr', { dataset: { modelId: m.model_id, accuracy: m.accuracy === null ? '' : String(m.accuracy), rank: String(i + 1) } },
        h('td.rank', { 'data-label': 'Rank' }, String(i + 1)),
        h('td.model', { 'data-label': 'Model' },
          m.job_id ? h('a', { href: `#/jobs/${m.job_id}` }, modelName(m)) : modelName(m),
          spec ? h('small.muted', h('br'), specSummary(spec.job_spec || spec.spec)) : null),
        h('td.num.accuracy', { 'data-label': 'On your drawings' }, `${pct(m.accuracy)} `, h('small.muted', `(${m.correct}/${lb.drawings})`)),
        h('td.num.test', { 'data-label': 'MNIST test' }, pct(m.test_accuracy)),
        h(`td.num.gap${gap === null ? '' : gap < 0 ? '.worse' : '.better'}`, { 'data-label': 'Gap' }, points(gap)),
        h('td.action', btn));
    });
    fill(board, h('div.table-wrap', h('table#drawings-leaderboard.jobs.stack',
      h('caption.sr-only', `MNIST models ranked by accuracy on your ${lb.drawings} drawings`),
      h('thead', h('tr', ['Rank', 'Model', 'On your drawings', 'MNIST test', 'Gap (drawings − test)', h('span.sr-only', 'Evaluate')]
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', rows))),
    lb.models.length >= lb.max_models ? h('p.help', `The ${lb.max_models} newest MNIST models are ranked.`) : null);
  }

  async function evaluate(id, { focus = true } = {}) {
    const signal = nextEval();
    evaluated = id;
    evaluation.dataset.modelId = id;
    evaluation.setAttribute('aria-busy', 'true');
    if (focus) fill(evaluation, h('p.muted', `Evaluating ${modelName({ id })} on your drawings…`));
    try {
      const ev = await api.evaluate(id, 'drawings', signal);
      if (signal.aborted) return;
      renderEvaluation(ev);
      if (focus) evaluation.focus({ preventScroll: false });
    } catch (e) {
      if (!isAbort(e)) fill(evaluation, errorBox(e, `Could not evaluate ${modelName({ id })}`));
    } finally {
      if (!signal.aborted) evaluation.removeAttribute('aria-busy');
    }
  }

  function renderEvaluation(ev) {
    const wrong = ev.count - Math.round(ev.accuracy * ev.count);
    const mis = ev.misclassified;
    fill(evaluation,
      h('h3', `${modelName(ev)} on your ${ev.count} drawing${ev.count === 1 ? '' : 's'}: ${pct(ev.accuracy)} right`),
      h('div.eval-layout',
        h('div.table-wrap', confusionTable(ev.confusion, { id: 'drawings-confusion' })),
        h('div',
          mis.length ? [
            h('p', `Misread (${mis.length < wrong ? `${mis.length} of ${wrong} shown` : wrong}): true → predicted (probability)`),
            h('ul#drawings-misclassified.digit-grid', mis.map((m) => h('li', { dataset: { drawingId: m.id, label: String(m.label), predicted: String(m.predicted) } },
              imageCanvas(m.pixels, { scale: 2, label: `your ${m.label}, read as ${m.predicted}` }),
              h('span', h('span.true', String(m.label)), ' → ', h('strong.pred', String(m.predicted)), h('small.muted', ` (${pct(m.probability)})`))))),
          ] : h('p.ok', 'It read every drawing right.'))));
  }

  function refresh() {
    refreshList().then(() => {
      // A shown evaluation follows the drawings; with none left there is nothing to show.
      if (!evaluated || !ctx.alive) return;
      if (total > 0) evaluate(evaluated, { focus: false });
      else { evaluated = null; nextEval(); fill(evaluation); }
    });
    refreshBoard();
  }

  return { el, refresh };
}
