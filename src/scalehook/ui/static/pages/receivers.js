// Receivers: each with a one-line description and its state; create one per driver
// with the fields that driver takes; pause/resume, dry run/live, rotate and delete. The
// trigger URL is shown once, after create or rotate, with a copy button.

import { del, get, patch, post } from '../api.js';
import { confirm } from '../dialog.js';
import { fill, h, text } from '../dom.js';
import { DRIVERS, configFrom, describe } from '../drivers.js';
import { age, when } from '../format.js';
import { field, formError, submitting } from '../forms.js';

function stateBadges(r) {
  const out = [];
  if (!r.enabled) out.push(h('span', { class: 'badge off' }, 'disabled'));
  else if (r.paused) out.push(h('span', { class: 'badge warn' }, 'paused'));
  else out.push(h('span', { class: 'badge ok' }, 'enabled'));
  if (r.dry_run) out.push(h('span', { class: 'badge info' }, 'dry run'));
  if (r.has_secret) out.push(h('span', { class: 'badge muted' }, 'secret set'));
  return out;
}

/** The once-only trigger URL, with a copy button (Clipboard API). */
function urlPanel(receiver, how) {
  const id = `url-${receiver.id}`;
  const input = h('input', { id, type: 'text', readonly: true, value: receiver.url, class: 'mono', spellcheck: 'false' });
  const status = h('span', { class: 'copy-status', role: 'status' });
  const copy = h('button', { type: 'button', class: 'primary' }, 'Copy URL');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(receiver.url);
      text(status, 'Copied.');
    } catch (error) {
      input.select();
      text(status, `Copy did not work here (${error.message}): the URL is selected, copy it with Ctrl+C.`);
    }
  });
  const panel = h(
    'section',
    { class: 'card secret-url', 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, `Trigger URL of ${receiver.name} (${how})`),
    h('p', null, 'Shown only now: scalehook keeps only its hash. Anything that can POST to it triggers the receiver.'),
    h('div', { class: 'copy-row' }, h('label', { for: id, class: 'visually-hidden' }, 'Trigger URL'), input, copy),
    status,
    h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => panel.remove() }, 'Done')),
  );
  return panel;
}

function createForm(services, onCreated) {
  const driverSelect = field({
    name: 'driver', label: 'Driver', kind: 'select', value: 'scaleService',
    options: Object.entries(DRIVERS).map(([name, d]) => [name, `${d.label} (${name})`]),
  });
  const name = field({ name: 'name', label: 'Name', required: true, placeholder: 'web-up', hint: 'Starts with a letter; letters, digits, . _ -' });
  const driverFields = h('div', { class: 'driver-fields' });
  const dryRun = field({ name: 'dry_run', label: 'Dry run (decide and record, change nothing)', kind: 'checkbox' });
  const paused = field({ name: 'paused', label: 'Paused (record calls, decide nothing)', kind: 'checkbox' });
  const datalist = h('datalist', { id: 'tag-policies' },
    ['semver', 'semver:same-major', 'semver:same-minor', 'force'].map((v) => h('option', { value: v })));

  const drawFields = () => {
    const driver = DRIVERS[driverSelect.control.value];
    const basic = [];
    const advanced = [];
    for (const f of driver.fields) {
      let made;
      if (f.kind === 'service') {
        // a bare name where it is unique across backends (as the CLI would write it)
        const unique = (sv) => services.filter((o) => o.name === sv.name).length === 1;
        const options = services.map((sv) => [unique(sv) ? sv.name : sv.ref, unique(sv) ? sv.name : `${sv.name} (${sv.backend})`]);
        made = field({ ...f, apiName: `config.${f.name}`, kind: 'select', value: options[0] ? options[0][0] : '', options });
      } else {
        made = field({ ...f, apiName: `config.${f.name}`, kind: f.kind === 'labels' ? 'text' : f.kind });
      }
      (f.advanced ? advanced : basic).push(made.row);
    }
    fill(
      driverFields,
      h('div', { class: 'grid' }, basic),
      advanced.length ? h('details', { class: 'advanced' }, h('summary', null, 'More settings'), h('div', { class: 'grid' }, advanced)) : null,
    );
  };
  driverSelect.control.addEventListener('change', drawFields);
  drawFields();

  const form = h(
    'form',
    { class: 'card create', novalidate: true, 'aria-labelledby': 'create-title' },
    h('h2', { id: 'create-title' }, 'New receiver'),
    h('div', { class: 'grid' }, name.row, driverSelect.row),
    driverFields,
    h('div', { class: 'grid' }, dryRun.row, paused.row),
    datalist,
    formError(),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Create receiver')),
  );
  submitting(form, async (data) => {
    const driver = String(data.get('driver'));
    const body = {
      name: String(data.get('name') || '').trim(),
      driver,
      config: configFrom(driver, data),
      dry_run: data.get('dry_run') === 'on',
      paused: data.get('paused') === 'on',
    };
    const created = await post('v1/receivers', body);
    form.reset();
    drawFields();
    await onCreated(created);
  });
  return form;
}

function receiverRow(r, { onChange, showUrl, onError }) {
  const status = h('p', { class: 'row-status', role: 'status' });
  const act = (label, run) => {
    const b = h('button', { type: 'button' }, label);
    b.addEventListener('click', async () => {
      b.disabled = true;
      status.classList.remove('bad');
      text(status, '');
      try {
        await run();
      } catch (error) {
        status.classList.add('bad');
        text(status, error.message);
        onError(error);
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  const buttons = h(
    'div',
    { class: 'actions', role: 'group', 'aria-label': `Actions on ${r.name}` },
    act(r.paused ? 'Resume' : 'Pause', async () => onChange(await patch(`v1/receivers/${r.id}`, { paused: !r.paused }))),
    act(r.dry_run ? 'Go live' : 'Dry run', async () => onChange(await patch(`v1/receivers/${r.id}`, { dry_run: !r.dry_run }))),
    act('Rotate URL', async () => {
      const ok = await confirm({
        title: `Rotate the URL of ${r.name}?`,
        body: 'It gets a new trigger URL; the old one stops working at once. Update every sender.',
        confirmLabel: 'Rotate',
      });
      if (!ok) return;
      const rotated = await post(`v1/receivers/${r.id}/rotate`);
      showUrl(rotated, 'new, after rotate');
      onChange(rotated);
    }),
    act('Delete', async () => {
      const ok = await confirm({
        title: `Delete receiver ${r.name}?`,
        body: 'Its trigger URL stops working at once. Its executions stay in the activity.',
        confirmLabel: 'Delete',
      });
      if (!ok) return;
      await del(`v1/receivers/${r.id}`);
      onChange(null);
    }),
  );
  return h(
    'tr',
    { 'data-receiver': r.name },
    h('td', { 'data-label': 'Name' }, h('a', { href: `#/activity?receiver=${encodeURIComponent(r.name)}`, title: 'Its activity' }, r.name)),
    h('td', { 'data-label': 'What it does', class: 'describe' }, describe(r), h('div', { class: 'muted small' }, r.driver)),
    h('td', { 'data-label': 'State', class: 'state' }, stateBadges(r)),
    h('td', { 'data-label': 'Changed', class: 'muted', title: when(r.updated_at) }, age(r.updated_at)),
    h('td', { 'data-label': 'Actions' }, buttons, status),
  );
}

export default {
  id: 'receivers',
  title: 'Receivers',
  nav: true,
  async render(main) {
    const [receivers, services] = await Promise.all([get('v1/receivers'), get('v1/services').catch(() => [])]);
    const urls = h('div', { class: 'urls' });
    const tbody = h('tbody');
    const none = h('p', { class: 'muted' }, 'No receivers yet: create one below.');
    const showUrl = (receiver, how) => {
      const panel = urlPanel(receiver, how);
      urls.prepend(panel);
      panel.querySelector('button').focus();
    };
    const draw = (list) => {
      none.hidden = list.length > 0;
      fill(tbody, list.map((r) => receiverRow(r, {
        showUrl,
        onError: () => {},
        onChange: async () => draw(await get('v1/receivers')),
      })));
    };
    const table = h('table', { class: 'receivers' },
      h('caption', { class: 'visually-hidden' }, 'Receivers'),
      h('thead', null, h('tr', null, ['Name', 'What it does', 'State', 'Changed', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody);
    fill(
      main,
      h('div', { class: 'page-head' }, h('h1', null, 'Receivers')),
      urls,
      none,
      h('div', { class: 'table-wrap' }, table),
      createForm(services, async (created) => {
        showUrl(created, 'new');
        draw(await get('v1/receivers'));
      }),
    );
    draw(receivers);
  },
};
