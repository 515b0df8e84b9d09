// Hosts: the Swarm's nodes with their state and load; add one to a group and remove one
// (drained first) through the same calls as the CLI. Without a hosts: section in
// scalehook.yaml the API says so, and so does this page.

import { ApiError, del, get, post } from '../api.js';
import { confirm } from '../dialog.js';
import { fill, h, text } from '../dom.js';
import { bytes, labels, parseLabels, when } from '../format.js';
import { field, formError, submitting } from '../forms.js';

function meter(used, total, show) {
  if (!total) return h('span', { class: 'muted' }, '–');
  return h('span', { class: 'load' },
    h('meter', { min: '0', max: String(total), value: String(used), 'aria-label': show(used, total) }),
    h('span', null, show(used, total)));
}

const cores = (n) => `${Number(n).toFixed(n % 1 ? 1 : 0)}`;

function hostRow(host, { onRemoved }) {
  const status = h('p', { class: 'row-status', role: 'status' });
  const remove = h('button', { type: 'button', disabled: !host.removable, 'aria-describedby': host.removable ? null : `why-${host.id}` }, 'Remove');
  remove.addEventListener('click', async () => {
    const ok = await confirm({
      title: `Remove host ${host.name}?`,
      body: 'It is drained (its tasks move elsewhere), then destroyed by its provider and removed from the Swarm.',
      confirmLabel: 'Remove',
    });
    if (!ok) return;
    remove.disabled = true;
    status.classList.remove('bad');
    text(status, 'Draining and removing…');
    try {
      const execution = await del(`v1/hosts/${encodeURIComponent(host.id)}`);
      text(status, execution.message);
      await onRemoved();
    } catch (error) {
      status.classList.add('bad');
      text(status, error.message);
      remove.disabled = false;
    }
  });
  const l = host.load || {};
  return h(
    'tr',
    { 'data-host': host.name },
    h('td', { 'data-label': 'Host' }, host.name, h('div', { class: 'muted small mono' }, host.address || '')),
    h('td', { 'data-label': 'State', class: host.state === 'ready' ? 'ok' : 'warn' }, host.state),
    h('td', { 'data-label': 'Availability' }, host.availability),
    h('td', { 'data-label': 'Role' }, host.role),
    h('td', { 'data-label': 'Labels', class: 'muted' }, labels(host.labels)),
    h('td', { 'data-label': 'Provider' }, host.provider || '–'),
    h('td', { 'data-label': 'Tasks', class: 'num' }, String(l.running_tasks ?? '–')),
    h('td', { 'data-label': 'CPU reserved' }, meter(l.cpu_reserved || 0, l.cpu_total, (u, t) => `${cores(u)} of ${cores(t)} cores`)),
    h('td', { 'data-label': 'Memory reserved' }, meter(l.memory_reserved || 0, l.memory_total, (u, t) => `${bytes(u)} of ${bytes(t)}`)),
    h('td', { 'data-label': 'Created', class: 'muted' }, when(host.created)),
    h('td', { 'data-label': 'Actions' }, remove,
      host.removable ? null : h('p', { class: 'muted small', id: `why-${host.id}` }, `Never removed: ${host.protected_because}`),
      status),
  );
}

function addForm(onAdded) {
  const provider = field({ name: 'provider', label: 'Provider', required: true, placeholder: 'netns' });
  const hostLabels = field({ name: 'labels', label: 'Labels', required: true, placeholder: 'group=batch' });
  const name = field({ name: 'name', label: 'Name (optional)', placeholder: 'batch-1' });
  const progress = h('p', { class: 'muted', role: 'status' });
  const form = h('form', { class: 'card create', novalidate: true, 'aria-labelledby': 'add-host-title' },
    h('h2', { id: 'add-host-title' }, 'Add a host'),
    h('div', { class: 'grid' }, provider.row, hostLabels.row, name.row),
    formError(), progress,
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Add host')));
  submitting(form, async (data) => {
    let parsed;
    try {
      parsed = parseLabels(data.get('labels'));
    } catch (error) {
      throw Object.assign(new Error(`labels: ${error.message}`), { field: 'labels' });
    }
    const body = { provider: String(data.get('provider') || '').trim(), labels: parsed };
    const wanted = String(data.get('name') || '').trim();
    if (wanted) body.name = wanted;
    text(progress, 'Adding: the answer comes once the host is Ready in the Swarm…');
    try {
      const host = await post('v1/hosts', body);
      text(progress, `Added ${host.name}.`);
      form.reset();
      await onAdded();
    } catch (error) {
      text(progress, '');
      throw error;
    }
  });
  return form;
}

export default {
  id: 'hosts',
  title: 'Hosts',
  nav: true,
  async render(main) {
    const head = h('div', { class: 'page-head' }, h('h1', null, 'Hosts'));
    let hosts;
    try {
      hosts = await get('v1/hosts');
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        fill(main, head, h('div', { class: 'card notice', role: 'status' },
          h('h2', null, 'Host scaling is not configured'),
          h('p', null, error.message)));
        return null;
      }
      throw error;
    }
    const tbody = h('tbody');
    const note = h('p', { class: 'muted', role: 'status' });
    head.appendChild(note);
    const refresh = async () => {
      const list = await get('v1/hosts');
      text(note, `${list.length} host${list.length === 1 ? '' : 's'} · now`);
      fill(tbody, list.map((host) => hostRow(host, { onRemoved: refresh })));
    };
    const table = h('table', { class: 'hosts' },
      h('caption', { class: 'visually-hidden' }, 'Hosts, as they are now'),
      h('thead', null, h('tr', null, ['Host', 'State', 'Availability', 'Role', 'Labels', 'Provider', 'Tasks', 'CPU reserved', 'Memory reserved', 'Created', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody);
    fill(main, head, h('div', { class: 'table-wrap' }, table), addForm(refresh));
    text(note, `${hosts.length} host${hosts.length === 1 ? '' : 's'} · now`);
    fill(tbody, hosts.map((host) => hostRow(host, { onRemoved: refresh })));
    return null;
  },
};
