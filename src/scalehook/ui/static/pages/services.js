// Services: every service of every backend, as it is now (refreshed every 2 s), with
// the scale controls. The columns are a list: health and a policy's min/max (issues 11
// and 12) are one entry each here when those land.

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
  // { head: 'Health', ... }            health checks (issue 12)
  // { head: 'Policy min/max', ... }    autoscaling policies (issue 11)
];

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
      try {
        [services, running] = await Promise.all([get('v1/services'), loadRunning()]);
      } catch (error) {
        note.classList.add('bad');
        text(note, `Cannot read the services now: ${error.message}`);
        if (!rows.size) throw error;
        return;
      }
      note.classList.remove('bad');
      text(note, `${services.length} service${services.length === 1 ? '' : 's'} · now`);
      const seen = new Set();
      for (const s of services) {
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
