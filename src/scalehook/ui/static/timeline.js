// A service's scaling timeline: its replica count over time, a step for every execution
// that changed it, each annotated with who and why (receiver, policy, health check, by
// hand) — drawn in SVG and listed in words beside it (the list is what a screen reader
// and a phone read).

import { h, s } from './dom.js';
import { age, when, who } from './format.js';

const SKIP = new Set(['dry_run', 'failed', 'rejected', 'paused']);

/** The executions that changed the count, oldest first. */
export function changes(executions) {
  return executions
    .filter((e) => e.before !== null && e.before !== undefined && e.after !== null && e.after !== undefined)
    .filter((e) => e.before !== e.after && !SKIP.has(e.result))
    .sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at) || a.id - b.id);
}

export function timeline(executions, desiredNow, now = Date.now()) {
  const steps = changes(executions);
  if (!steps.length) {
    return h('p', { class: 'muted' }, `No change of the replica count recorded yet (now ${desiredNow}).`);
  }
  const W = 720;
  const H = 180;
  const pad = { l: 36, r: 12, t: 12, b: 28 };
  const t0 = Date.parse(steps[0].started_at);
  const t1 = Math.max(now, t0 + 1000);
  const top = Math.max(desiredNow, ...steps.map((e) => Math.max(e.before, e.after)), 1);
  const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (W - pad.l - pad.r);
  const y = (n) => H - pad.b - (n / top) * (H - pad.t - pad.b);
  let d = `M ${x(t0).toFixed(1)} ${y(steps[0].before).toFixed(1)}`;
  for (const e of steps) {
    const tx = x(Date.parse(e.started_at)).toFixed(1);
    d += ` H ${tx} V ${y(e.after).toFixed(1)}`;
  }
  d += ` H ${x(t1).toFixed(1)}`;
  const ticks = [...new Set([0, Math.round(top / 2), top])];
  const svg = s(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, class: 'timeline', role: 'img', 'aria-label': `Replica count over time: ${steps.length} changes, ${desiredNow} now` },
    ticks.map((n) => [
      s('line', { x1: pad.l, x2: W - pad.r, y1: y(n), y2: y(n), class: 'grid' }),
      s('text', { x: pad.l - 6, y: y(n) + 4, class: 'tick', 'text-anchor': 'end' }, String(n)),
    ]),
    s('text', { x: pad.l, y: H - 8, class: 'tick' }, when(steps[0].started_at)),
    s('text', { x: W - pad.r, y: H - 8, class: 'tick', 'text-anchor': 'end' }, 'now'),
    s('path', { d, class: 'line' }),
    steps.map((e) =>
      s('circle', { cx: x(Date.parse(e.started_at)), cy: y(e.after), r: 4, class: `point ${e.after > e.before ? 'up' : 'down'}` },
        s('title', null, `${e.before} → ${e.after} · ${who(e)} · ${e.message}`))),
  );
  const list = h(
    'ol',
    { class: 'changes', reversed: true, 'aria-label': 'Changes of the replica count, newest first' },
    [...steps].reverse().map((e) =>
      h('li', null,
        h('span', { class: `delta ${e.after > e.before ? 'up' : 'down'}` }, `${e.before} → ${e.after}`),
        h('span', { class: 'who' }, who(e)),
        h('span', { class: 'why' }, e.message),
        h('time', { class: 'age', datetime: e.started_at, title: when(e.started_at) }, age(e.started_at, now)))),
  );
  return h('div', { class: 'timeline-wrap' }, svg, list);
}
