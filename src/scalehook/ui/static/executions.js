// One execution of the audit trail, as a row that opens to its details. History is
// drawn as history: a finished execution is muted and says how long ago it was; only a
// running one (a rollout going on) is drawn as something happening now.

import { fill, h, text } from './dom.js';
import { age, change, when, who } from './format.js';
import { rolloutProgress } from './rollout.js';

const FAILED = new Set(['failed', 'rejected', 'rolled_back']);

export function resultClass(execution) {
  if (execution.status === 'running') return 'result now';
  if (FAILED.has(execution.result)) return 'result past bad';
  return 'result past';
}

/** A <li> for an execution; update(execution) redraws it in place (the open state kept). */
export function executionItem(execution) {
  const ageEl = h('time', { class: 'age' });
  const resultEl = h('span');
  const whoEl = h('span', { class: 'who' });
  const targetEl = h('span', { class: 'target' });
  const changeEl = h('span', { class: 'change' });
  const messageEl = h('span', { class: 'message' });
  const body = h('div', { class: 'exec-body' });
  const details = h(
    'details',
    null,
    h('summary', null, ageEl, resultEl, whoEl, targetEl, changeEl, messageEl),
    body,
  );
  const item = h('li', { class: 'execution' }, details);
  let current = null;
  const update = (next) => {
    current = next;
    item.dataset.id = String(next.id);
    item.dataset.status = next.status;
    item.dataset.result = next.result;
    item.classList.toggle('running', next.status === 'running');
    ageEl.setAttribute('datetime', next.started_at);
    ageEl.title = when(next.started_at);
    text(ageEl, age(next.started_at));
    resultEl.className = resultClass(next);
    text(resultEl, next.status === 'running' ? `${next.result} (running)` : next.result);
    text(whoEl, who(next));
    text(targetEl, next.target || '');
    text(changeEl, change(next));
    text(messageEl, next.message);
    const progress = rolloutProgress(next);
    fill(
      body,
      progress,
      h('dl', { class: 'facts' },
        h('dt', null, 'Execution'), h('dd', null, `#${next.id}`),
        h('dt', null, 'Started'), h('dd', null, when(next.started_at)),
        h('dt', null, 'Took'), h('dd', null, `${Math.round(next.duration_ms)} ms`),
        next.caller ? [h('dt', null, 'Caller'), h('dd', null, next.caller)] : null),
      h('pre', { class: 'json', tabindex: '0', 'aria-label': `Details of execution ${next.id}` },
        JSON.stringify(next.details, null, 2)),
    );
  };
  update(execution);
  return {
    item,
    update,
    refreshAge: () => current && text(ageEl, age(current.started_at)),
  };
}

/** A live list of executions, newest first: upsert(execution) adds or redraws one. */
export function executionList({ label, empty = 'Nothing recorded yet.' }) {
  const list = h('ol', { class: 'executions', 'aria-label': label });
  const none = h('p', { class: 'muted' }, empty);
  const items = new Map();
  const root = h('div', null, none, list);
  const sync = () => {
    none.hidden = items.size > 0;
  };
  const upsert = (execution, { fresh = false } = {}) => {
    const known = items.get(execution.id);
    if (known) {
      known.update(execution);
      return;
    }
    const made = executionItem(execution);
    items.set(execution.id, made);
    // keep newest first
    const after = [...list.children].find((li) => Number(li.dataset.id) < execution.id);
    list.insertBefore(made.item, after || null);
    if (fresh) {
      made.item.classList.add('fresh');
      setTimeout(() => made.item.classList.remove('fresh'), 4000);
    }
    sync();
  };
  const reset = (executions) => {
    items.clear();
    list.replaceChildren();
    for (const e of executions) upsert(e);
    sync();
  };
  const timer = setInterval(() => items.forEach((i) => i.refreshAge()), 15000);
  sync();
  return { root, upsert, reset, stop: () => clearInterval(timer), size: () => items.size };
}
