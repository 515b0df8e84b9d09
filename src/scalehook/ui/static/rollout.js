// A rollout's progress, from its execution's details.batches: one bar segment per batch
// (ready, failed, or still to come), and one progress bar for the whole rollout.

import { h } from './dom.js';

export function rolloutProgress(execution) {
  const d = execution.details || {};
  if (!Array.isArray(d.batches)) return null;
  const batches = d.batches;
  const latest = batches[batches.length - 1];
  const rollingBack = d.phase === 'rolling_back';
  const forward = batches.filter((b) => b.phase !== 'rolling_back');
  const total = Math.max(latest ? latest.of || 0 : 0, forward.length, 1);
  const running = execution.status === 'running';
  const segments = [];
  for (let i = 1; i <= total; i += 1) {
    const b = forward.find((x) => x.batch === i);
    let state = 'pending';
    if (b) state = b.ready ? 'ready' : 'failed';
    else if (running && !rollingBack && i === forward.length + 1) state = 'active';
    const words = { pending: 'to come', ready: 'ready', failed: 'failed', active: 'in progress' }[state];
    segments.push(h('li', { class: `batch ${state}`, title: `Batch ${i} of ${total}: ${words}` },
      h('span', { class: 'visually-hidden' }, `Batch ${i} of ${total}: ${words}`)));
  }
  if (!batches.length && running) {
    return h('div', { class: 'rollout live' },
      h('p', { class: 'rollout-label' }, `${d.from || '?'} → ${d.to || '?'}: starting the first batch`),
      h('progress', { 'aria-label': `Rollout of ${d.service || execution.target}` }));
  }
  const done = forward.filter((b) => b.ready).length;
  const label = `${d.from || '?'} → ${d.to || '?'}: ${done} of ${total} batches ready${rollingBack ? ', rolling back' : ''}`;
  return h(
    'div',
    { class: `rollout${running ? ' live' : ''}` },
    h('p', { class: 'rollout-label' }, label),
    h('progress', { max: String(total), value: String(done), 'aria-label': `Rollout of ${d.service || execution.target}` }),
    h('ol', { class: 'batches', 'aria-label': 'Batches' }, segments),
  );
}
