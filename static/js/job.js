// job.js — one job's page: status, progress bar with ETA, cancel, live curves (train vs
// validation loss and accuracy, learning rate, per-layer gradient norms, step losses) fed by
// the metrics endpoint and then the job's event stream, and for finished image-dataset jobs
// the confusion matrix and misclassified test digits. A forked job names its parent and what
// changed, a parent lists its forks; any started job can be forked from here, and a fork's
// pairs are summarised.

import { api, followJob, TERMINAL, IMAGE_DATASETS } from './api.js';
import { h, fill, fmt, pct, duration, errorBox, isAbort, specSummary } from './dom.js';
import { lineChart, confusionTable, imageCanvas } from './charts.js';
import { statusBadge } from './jobs.js';
import { forkForm, forkFormKey, pairsPanel } from './forks.js';

export async function mount(root, ctx, route) {
  const id = route.id;
  const title = h('h1#view-title', `Job ${id.slice(-8)}`);
  // The head's parts: headMain and specBox are re-rendered on every status change; forkSlot
  // is not, so a half-filled fork form keeps its values and focus.
  const headMain = h('div');
  const forkSlot = h('div.fork-slot');
  const specBox = h('div');
  const head = h('div.job-head', headMain, forkSlot, specBox);
  const progressBox = h('div.job-progress');
  const pairsBox = h('div.pairs-box');
  const forksBox = h('section#job-forks');
  const charts = h('div#job-charts.chart-grid');
  const evaluation = h('section#evaluation', { 'aria-live': 'polite' });
  const kfoldBox = h('section.kfold-box');
  const errors = h('div#job-error', { 'aria-live': 'polite' });
  root.append(title, head, progressBox, errors, forksBox, pairsBox, kfoldBox, charts, evaluation);

  let job;
  let metrics = { epochs: [], steps: [] };
  let forks = [];
  try {
    [job, metrics, forks] = await Promise.all([api.job(id, ctx.signal), api.metrics(id, ctx.signal),
      api.jobs({ parent_id: id, limit: 200 }, ctx.signal)]);
  } catch (e) {
    if (isAbort(e)) return;
    fill(head, errorBox(e, e.status === 404 ? 'No such job' : 'Could not load the job'), h('p', h('a', { href: '#/jobs' }, 'Back to the jobs')));
    return;
  }

  fill(forksBox, forkList(id, forks));

  const cancelBtn = h('button#cancel-job.danger', { type: 'button' }, 'Cancel job');
  cancelBtn.addEventListener('click', async () => {
    cancelBtn.disabled = true;
    try { job = await api.cancelJob(id); renderHead(); } catch (e) {
      if (e.status === 409) { job = await api.job(id); renderHead(); } else fill(errors, errorBox(e, 'Cancel failed'));
    }
  });

  // The fork form is rebuilt only when the job becomes forkable (its initial weights are
  // stored when it starts), not on every status event.
  let forkKey = null;
  function renderFork() {
    const key = forkFormKey(job);
    if (key !== forkKey) { forkKey = key; fill(forkSlot, forkForm(job)); }
  }

  function renderHead() {
    const spec = job.spec || {};
    const finished = TERMINAL.includes(job.status);
    const r = job.result;
    const tryLink = r && IMAGE_DATASETS.includes(spec.dataset) ? h('a', { href: '#/draw' }, 'Draw a digit for it')
      : r ? h('a', { href: `#/lecture?model=${r.model_id}` }, 'See its decision boundary') : null;
    fill(headMain,
      h('p.job-meta', h('span#job-status', { dataset: { status: job.status } }, statusBadge(job.status)), ' ',
        h('strong', spec.dataset), ' · ', specSummary(spec)),
      lineage(job),
      job.error ? errorBox(new Error(job.error), 'The job failed') : null,
      r ? h('p.result', `Test accuracy ${pct(r.test_accuracy)} · test loss ${fmt(r.test_loss)} · trained in ${duration(r.train_seconds)}`) : null,
      h('div.button-row', finished ? null : cancelBtn,
        h('a.button', { href: `#/compare?ids=${id}` }, 'Compare with other jobs'), tryLink));
    renderFork();
    fill(specBox, h('details', h('summary', 'Full spec'), h('pre', JSON.stringify(spec, null, 2))));
    renderKFold();
    renderProgress();
  }

  function renderProgress() {
    const p = job.progress || { epoch: 0, epochs: 1, fraction: 0 };
    const done = metrics.epochs.length;
    const total = p.epochs || 1;
    const frac = job.status === 'succeeded' ? 1 : Math.max(p.fraction || 0, done / total);
    let eta = '';
    if (job.status === 'running') {
      const secs = metrics.epochs.map((e) => e.seconds).filter(Number.isFinite);
      const per = secs.length ? secs.reduce((a, b) => a + b, 0) / secs.length : null;
      const started = job.started_at ? (Date.now() - Date.parse(job.started_at)) / 1000 : null;
      const left = per !== null ? per * (total - done) : started && frac > 0 ? started * (1 - frac) / frac : null;
      eta = left === null ? 'estimating time left…' : `about ${duration(left)} left`;
    } else if (job.status === 'queued') eta = 'waiting for a free worker';
    else eta = job.status;
    fill(progressBox,
      h('label', { for: 'job-progress' }, `Epoch ${Math.max(done, p.epoch)} of ${total}`),
      h('progress#job-progress', { max: '1', value: String(frac) }),
      h('span#job-eta.muted', eta));
  }

  let pending = false;
  function renderCharts() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (!ctx.alive) return;
      fill(charts, ...jobCharts(metrics));
    });
  }

  /** The deck's k-fold slide: each fold's final validation values and their mean ± std. */
  function renderKFold() {
    const k = job.result && job.result.kfold;
    if (!k) { fill(kfoldBox); return; }
    const folds = [...new Set(metrics.epochs.map((r) => r.fold).filter(Boolean))];
    fill(kfoldBox,
      h('h2', `${k.folds.length}-fold cross-validation`),
      h('p#kfold-mean', `Validation accuracy ${pct(k.mean_val_accuracy)} ± ${pct(k.std_val_accuracy)} (mean ± population std over the folds); `
        + `validation loss ${fmt(k.mean_val_loss)} ± ${fmt(k.std_val_loss)}. The model kept is fold ${k.best_fold}'s.`),
      h('div.eval-layout',
        h('table#kfold-summary.jobs',
          h('thead', h('tr', ['Fold', 'Val. accuracy', 'Val. loss'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', k.folds.map((f) => h('tr', { dataset: { fold: String(f.fold) }, class: f.fold === k.best_fold ? 'best' : null },
            h('td', f.fold === k.best_fold ? `${f.fold} (kept)` : String(f.fold)), h('td', pct(f.val_accuracy)), h('td', fmt(f.val_loss)))))),
        lineChart({ id: 'chart-folds', title: 'Validation accuracy per fold', xLabel: 'epoch of the fold', yLabel: 'accuracy', integerX: true,
          series: folds.map((fold) => ({ name: `fold ${fold}`,
            points: metrics.epochs.filter((r) => r.fold === fold).map((r) => [r.epoch, r.val_accuracy]) })) })));
  }

  async function renderEvaluation() {
    const spec = job.spec || {};
    if (job.status !== 'succeeded' || !job.result || !IMAGE_DATASETS.includes(spec.dataset)) { fill(evaluation); return; }
    fill(evaluation, h('p.muted', 'Evaluating on the test set…'));
    try {
      const ev = await api.evaluation(job.result.model_id, ctx.signal);
      fill(evaluation,
        h('h2', 'Test set'),
        h('p', `Accuracy ${pct(ev.accuracy)} on the test images.`),
        h('div.eval-layout',
          h('div#confusion', { tabindex: '0', role: 'region', 'aria-label': 'confusion matrix' }, confusionTable(ev.confusion, { id: 'confusion-table' })),
          h('div',
            h('h3', `Misclassified (${ev.misclassified.length} shown)`),
            h('ul#misclassified.digit-grid', ev.misclassified.map((m) => h('li',
              imageCanvas(m.pixels, { scale: 2, label: `test image ${m.index}: true ${m.label}, predicted ${m.predicted}` }),
              h('span', h('span.true', String(m.label)), ' → ', h('strong.pred', String(m.predicted)),
                m.probabilities ? h('small.muted', ` ${pct(m.probabilities[m.predicted])}`) : null)))))));
    } catch (e) {
      if (!isAbort(e)) fill(evaluation, errorBox(e, 'The test-set evaluation is not available'));
    }
  }

  renderHead();
  renderCharts();
  // A job of a fork: how its pairs compare (the panel keeps itself up to date).
  if (job.fork) pairsBox.append(pairsPanel(job.fork.id, ctx));
  if (TERMINAL.includes(job.status)) { renderEvaluation(); return; }

  // The initial weights (init_sha256, which forking needs) are stored just after the
  // "running" event: once steps arrive the job is re-read, at most every 2 s, until it has them.
  let initAskedAt = 0;
  const readInit = async () => {
    if (job.init_sha256 || Date.now() - initAskedAt < 2000) return;
    initAskedAt = Date.now();
    try {
      const fresh = await api.job(id, ctx.signal);
      if (fresh.init_sha256 && !job.init_sha256) { job = { ...job, init_sha256: fresh.init_sha256 }; renderHead(); }
    } catch (e) { if (!isAbort(e)) fill(errors, errorBox(e)); }
  };
  // Live: events after the initial read.
  followJob(id, {
    signal: ctx.signal,
    status: (j) => { if (j) { job = j; renderHead(); } },
    // The same rows as /metrics; kept in order, each once.
    epoch: (m) => {
      const last = metrics.epochs[metrics.epochs.length - 1];
      if (!last || m.epochs_done > last.epochs_done) metrics.epochs.push(m);
      renderProgress(); renderCharts(); readInit();
    },
    step: (st) => {
      const last = metrics.steps[metrics.steps.length - 1];
      if (!last || st.step > last.step) metrics.steps.push(st);
      renderCharts(); readInit();
    },
    // Only the rows that arrived since (the stream may have missed some while reconnecting).
    reread: async (signal) => {
      const [fresh, more] = await Promise.all([api.job(id, signal), api.moreMetrics(id, metrics, signal)]);
      metrics = more;
      renderCharts();
      return fresh;
    },
  }).then(() => renderEvaluation(), (e) => { if (!isAbort(e)) fill(errors, errorBox(e)); });
  // ETA ticks even between epochs.
  ctx.interval(() => { if (job.status === 'running') renderProgress(); }, 1000);
}

/** "Forked from <parent> · changed: …" and a link comparing the two, for a forked job. */
function lineage(job) {
  if (!job.parent_id) return null;
  const parent = job.parent_id;
  const changed = job.changed && job.changed.length
    ? job.changed.map((f, i) => [i ? ', ' : '', h('code', f)])
    : 'nothing: a reproduction';
  const place = job.fork ? h('span.muted', ` (pair ${job.fork.pair}, ${job.fork.role})`) : null;
  return h('p#job-lineage', 'Forked from ', h('a', { href: `#/jobs/${parent}` }, `job ${parent.slice(-8)}`), place,
    ' · changed: ', changed, ' · ',
    h('a#compare-parent', { href: `#/compare?ids=${parent},${job.id}&baseline=${parent}` }, 'Compare with its parent'));
}

/** The forks of a job (from its jobs listed by parent): one line per fork, by its first child. */
function forkList(id, jobs) {
  const children = jobs.filter((j) => j.fork && j.fork.pair === 0 && j.fork.role === 'child');
  if (!children.length) return null;
  const pairs = (fork) => jobs.filter((j) => j.fork && j.fork.id === fork && j.fork.role === 'child').length;
  return [h('h2', `Forks of this job (${children.length})`),
    h('ul#job-forks-list', children.map((c) => {
      const n = pairs(c.id);
      const changed = c.changed && c.changed.length
        ? c.changed.map((f, i) => [i ? ', ' : '', h('code', `${f}=${JSON.stringify((c.spec || {})[f])}`)])
        : 'nothing: a reproduction';
      return h('li', { dataset: { jobId: c.id } }, h('a', { href: `#/jobs/${c.id}` }, `job ${c.id.slice(-8)}`), ' ',
        statusBadge(c.status), ' · changed: ', changed, n > 1 ? ` · ${n} pairs` : '', ' · ',
        h('a', { href: `#/compare?ids=${id},${c.id}&baseline=${id}` }, 'Compare'));
    }))];
}

/** The job's charts from its metrics (k-fold rows are numbered in order). */
export function jobCharts(metrics) {
  const rows = metrics.epochs;
  const folds = rows.some((r) => r.fold);
  const x = (r) => r.epochs_done;
  const xLabel = folds ? 'epoch (all folds in order)' : 'epoch';
  const pts = (key) => rows.map((r, i) => [x(r, i), r[key]]);
  const has = (key) => rows.some((r) => Number.isFinite(r[key]));
  const layers = Math.max(0, ...rows.map((r) => (r.grad_norms || []).length));
  const integerX = true;
  return [
    // Test curves and eval-mode training accuracy appear when the spec asked for them.
    lineChart({ id: 'chart-loss', title: 'Loss', xLabel, yLabel: 'loss', integerX,
      series: [{ name: 'train', points: pts('train_loss') }, { name: 'validation', points: pts('val_loss'), dash: '6 4' },
        ...(has('test_loss') ? [{ name: 'test', points: pts('test_loss'), dash: '2 3' }] : [])] }),
    lineChart({ id: 'chart-accuracy', title: 'Accuracy', xLabel, yLabel: 'accuracy', integerX,
      series: [{ name: 'train', points: pts('train_accuracy') }, { name: 'validation', points: pts('val_accuracy'), dash: '6 4' },
        ...(has('eval_train_accuracy') ? [{ name: 'train (eval mode)', points: pts('eval_train_accuracy'), dash: '1 3' }] : []),
        ...(has('test_accuracy') ? [{ name: 'test', points: pts('test_accuracy'), dash: '2 3' }] : [])] }),
    lineChart({ id: 'chart-grad-norms', title: 'Gradient norm per layer (vanishing gradients)', xLabel, yLabel: '‖∂L/∂W‖', logY: true, integerX,
      series: [...Array(layers).keys()].map((l) => ({
        name: l === 0 ? 'layer 1 (input side)' : l === layers - 1 ? `layer ${l + 1} (output)` : `layer ${l + 1}`,
        points: rows.map((r, i) => [x(r, i), (r.grad_norms || [])[l]]),
      })) }),
    lineChart({ id: 'chart-lr', title: 'Learning rate', xLabel, yLabel: 'learning rate', integerX,
      series: [{ name: 'learning rate', points: pts('learning_rate') }] }),
    lineChart({ id: 'chart-steps', title: 'Mini-batch loss (sampled steps)', xLabel: 'step', yLabel: 'loss', integerX,
      series: [{ name: 'step loss', points: metrics.steps.map((st) => [st.step, st.loss]), noDots: true, width: 1.2 }] }),
  ];
}
