// Services: every service of every backend, as it is now (refreshed every 2 s), with
// the scale controls, its health (healthy replicas of those checked) and its policies'
// min and max. The columns are a list: a new one is one entry here.

import { get } from '../api.js';
import { fill, h, text } from '../dom.js';
import { labels } from '../format.js';
import { scaleControls } from '../scale.js';
import { every } from '../stream.js';

const cell = (value, cls) => h('td', { class: cls || null }, value);

export const COLUMNS = [
  { head: 'Service', make: (s) => cell(h('a', { href: `#/services/${encodeURIComponent(s.ref)}` }, s.name)), update: null },
  { head: 'Backend', make: (s) => cell(s.backend, 'muted') },
  { head: 'Desired', key: 'desired', num: true },
  { head: 'Running', key: 'running', num: true },
  { head: 'Ready', key: 'ready', num: true },
  { head: 'Image or version', key: 'image', fmt: (s) => s.image || '–', cls: 'mono' },
  { head: 'Labels', key: 'labels', fmt: (s) => labels(s.labels), cls: 'muted' },
  { head: 'Health', key: 'health', fmt: (s) => healthText(s.health) },
  { head: 'Policy min/max', key: 'policies', fmt: (s) => policyText(s.policies) },
];

// What the health column says: no check, the check's verdict on the replicas checked so
// far, or that it cannot be read now (never "healthy" for want of an answer).
function healthText(check) {
  if (check === undefined) return 'cannot be read';
  if (check === null) return '–';
  if (check.all_failing) return 'all failing';
  const healthy = check.replicas.filter((r) => r.state === 'healthy').length;
  return check.replicas.length ? `${healthy}/${check.replicas.length} healthy` : 'not checked yet';
}

function policyText(policies) {
  if (policies === undefined) return 'cannot be read';
  if (!policies.length) return '–';
  return policies.map((p) => `${p.min}–${p.max} (${p.name})`).join(', ');
}

// Each service's check and policies, by its ref (a policy may name the service alone).
async function extras() {
  const [checks, policies] = await Promise.all([
    get('v1/healthchecks').catch(() => undefined),
    get('v1/policies').catch(() => undefined),
  ]);
  return (s) => ({
    health: checks === undefined ? undefined : checks.find((c) => c.service === s.ref) || null,
    policies: policies === undefined ? undefined : policies.filter((p) => p.service === s.ref || p.service === s.name),
  });
}

export async function loadRunning() {
  return get('v1/executions', { status: 'running', limit: 100 });
}

export default {
  id: 'services',
  title: 'Services',
  nav: true,
  async render(main) {
    const tbody = h('tbody');
    const note = h('p', { class: 'muted', role: 'status' });
    const table = h(
      'table',
      { class: 'services' },
      h('caption', { class: 'visually-hidden' }, 'Services, as they are now'),
      h('thead', null, h('tr', null, COLUMNS.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.head)), h('th', { scope: 'col' }, 'Scale'))),
      tbody,
    );
    fill(main, h('div', { class: 'page-head' }, h('h1', null, 'Services'), note), h('div', { class: 'table-wrap' }, table));
    const rows = new Map();

    const refresh = async () => {
      let services;
      let running;
      let more;
      try {
        [services, running, more] = await Promise.all([get('v1/services'), loadRunning(), extras()]);
      } catch (error) {
        note.classList.add('bad');
        text(note, `Cannot read the services now: ${error.message}`);
        if (!rows.size) throw error;
        return;
      }
      note.classList.remove('bad');
      text(note, `${services.length} service${services.length === 1 ? '' : 's'} · now`);
      const seen = new Set();
      for (const service of services) {
        const s = { ...service, ...more(service) };
        seen.add(s.ref);
        let row = rows.get(s.ref);
        if (!row) {
          const cells = COLUMNS.map((c) => {
            const td = c.make ? c.make(s) : cell('', [c.num ? 'num' : '', c.cls || ''].join(' ').trim());
            td.dataset.label = c.head;
            if (c.key) td.dataset.key = c.key;
            return td;
          });
          const controls = scaleControls(s, { onScaled: refresh });
          const scaleCell = h('td', { class: 'scale-td', 'data-label': 'Scale' }, controls.root);
          row = { tr: h('tr', { 'data-service': s.ref }, cells, scaleCell), cells, controls };
          rows.set(s.ref, row);
          tbody.appendChild(row.tr);
        }
        COLUMNS.forEach((c, i) => {
          if (c.key) text(row.cells[i], c.fmt ? c.fmt(s) : s[c.key]);
        });
        row.controls.update(s, running);
      }
      for (const [key, row] of rows) {
        if (!seen.has(key)) {
          row.tr.remove();
          rows.delete(key);
        }
      }
      if (!services.length) text(note, 'No services: add some to scalehook.yaml, or start them on the engine.');
    };
    await refresh();
    return every(2000, refresh, { immediate: false });
  },
};
