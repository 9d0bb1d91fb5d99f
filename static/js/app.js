// app.js — entry point: hash router (#/draw default, #/train, #/jobs, #/jobs/{id},
// #/compare?ids=…, #/sweeps, #/sweeps/{id}, #/lecture), mounting one view at a time and
// tearing the previous one down (its fetches aborted, its EventSources and timers closed),
// plus the global error bar.

import { ViewContext, fill, h, errorBox } from './dom.js';
import * as draw from './draw.js';
import * as train from './train.js';
import * as jobs from './jobs.js';
import * as jobPage from './job.js';
import * as compare from './compare.js';
import * as lecture from './lecture.js';
import * as sweeps from './sweeps.js';
import { mountSweep } from './sweep.js';

const routes = {
  draw: { view: draw, title: 'Draw a digit' },
  train: { view: train, title: 'Train a network' },
  jobs: { view: jobs, title: 'Jobs' },
  job: { view: jobPage, title: 'Job' },
  compare: { view: compare, title: 'Compare jobs' },
  sweeps: { view: sweeps, title: 'Sweeps' },
  sweep: { view: { mount: mountSweep }, title: 'Sweep' },
  lecture: { view: lecture, title: 'Lecture corner' },
};

/** '#/jobs/abc?x=1' -> {name: 'job', id: 'abc', query: URLSearchParams} */
export function parseHash(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const [path, qs = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  let name = parts[0] || 'draw';
  let id = null;
  if (name === 'jobs' && parts[1]) { name = 'job'; id = parts[1]; }
  else if (name === 'sweeps' && parts[1]) { name = 'sweep'; id = parts[1]; }
  else if (name === 'sweep') name = 'notfound';
  if (!routes[name]) name = 'notfound';
  return { name, id, query: new URLSearchParams(qs) };
}

let current = null;

function render() {
  if (current) current.destroy();
  current = new ViewContext();
  const ctx = current;
  const route = parseHash(location.hash);
  const root = document.getElementById('view');
  const navName = { job: 'jobs', sweep: 'sweeps' }[route.name] || route.name;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.route === navName) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (route.name === 'notfound') {
    fill(root, h('h1#view-title', 'Page not found'), h('p', 'No such page. ', h('a', { href: '#/draw' }, 'Go to the drawing page.')));
    document.title = 'nnlab';
    return;
  }
  const { view, title } = routes[route.name];
  document.title = `${title} · nnlab`;
  fill(root);
  root.dataset.view = route.name;
  try {
    const result = view.mount(root, ctx, route);
    if (result && result.catch) {
      result.catch((e) => {
        if (ctx.alive && e.name !== 'AbortError') root.append(errorBox(e, 'This page could not load'));
      });
    }
  } catch (e) {
    root.append(errorBox(e, 'This page could not load'));
  }
}

function showGlobalError(message) {
  const bar = document.getElementById('global-error');
  fill(bar, h('span', message), h('button.link', { type: 'button', onclick: () => { bar.hidden = true; } }, 'Dismiss'));
  bar.hidden = false;
}

window.addEventListener('unhandledrejection', (ev) => {
  if (ev.reason && ev.reason.name === 'AbortError') { ev.preventDefault(); return; }
  showGlobalError(`Something failed: ${ev.reason && ev.reason.message ? ev.reason.message : ev.reason}`);
});

window.addEventListener('hashchange', () => {
  render();
  document.getElementById('view').focus({ preventScroll: true });
  window.scrollTo(0, 0);
});
render();
