// Policies: each with its bounds, its metrics' current values against their targets and
// its state; create one (the common fields, or its whole JSON body), edit, pause/resume,
// dry run/live and delete it; and "Simulate": what a policy would decide from samples
// given here (POST /v1/policies/simulate, which acts on nothing).

import { del, get, patch, post, ref as refPath } from '../api.js';
import { confirm } from '../dialog.js';
import { fill, h, text } from '../dom.js';
import { age, when } from '../format.js';
import { field, formError, submitting } from '../forms.js';
import { body, metricLines, state } from '../policy.js';

/** The policies with their evaluations and last scaling (the list answers neither). */
export async function loadPolicies(filter = () => true) {
  const listed = (await get('v1/policies')).filter(filter);
  return Promise.all(listed.map((p) => get(`v1/policies/${p.id}`).catch(() => p)));
}

function parseJson(textValue, fieldName) {
  try {
    return JSON.parse(textValue);
  } catch (exc) {
    const error = new Error(`not JSON: ${exc.message}`);
    error.field = fieldName;
    throw error;
  }
}

/** "cpu=90,80,null; queue=120" → {cpu: [{value: 90}, {value: 80}, {value: null}], queue: [...]}. */
export function parseSamples(textValue) {
  const out = {};
  for (const part of String(textValue || '').split(';')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    const name = eq < 0 ? '' : item.slice(0, eq).trim();
    if (!name) {
      const error = new Error(`'${item}' is not metric=value,value...`);
      error.field = 'samples';
      throw error;
    }
    out[name] = item.slice(eq + 1).split(',').map((v) => v.trim()).filter(Boolean).map((v) => {
      if (v === 'null') return { value: null };
      const n = Number(v);
      if (!Number.isFinite(n)) {
        const error = new Error(`${name}: '${v}' is not a number (or null: no sample)`);
        error.field = 'samples';
        throw error;
      }
      return { value: n };
    });
  }
  return out;
}

function serviceOptions(services) {
  const unique = (sv) => services.filter((o) => o.name === sv.name).length === 1;
  return services.map((sv) => [unique(sv) ? sv.name : sv.ref, unique(sv) ? sv.name : `${sv.name} (${sv.backend})`]);
}

function createForm(services, onCreated) {
  const options = serviceOptions(services);
  const name = field({ name: 'name', label: 'Name', required: true, placeholder: 'web-cpu', hint: 'Starts with a letter; letters, digits, . _ -' });
  const service = field({ name: 'service', label: 'Service', kind: 'select', value: options[0] ? options[0][0] : '', options });
  const min = field({ name: 'min', label: 'Min replicas', kind: 'int', value: 1, min: 0 });
  const max = field({ name: 'max', label: 'Max replicas', kind: 'int', value: 10, min: 0 });
  const interval = field({ name: 'interval', label: 'Interval', value: '15s', hint: 'e.g. 5s, 1m' });
  const cpu = field({ name: 'cpu', label: 'CPU target (%)', kind: 'int', value: 60, min: 1, apiName: 'metrics[0].target',
    hint: 'average CPU per ready replica, % of one core or of its limit' });
  const dryRun = field({ name: 'dry_run', label: 'Dry run (decide and record, change nothing)', kind: 'checkbox' });
  const paused = field({ name: 'paused', label: 'Paused (decide nothing)', kind: 'checkbox' });
  const json = field({ name: 'json', label: 'Policy as JSON', kind: 'textarea', apiName: 'policy',
    hint: 'When given, sent as it is instead of the fields above (metrics of any source, behavior, on_error...).',
    placeholder: '{"name": "web-queue", "service": "web", "min": 1, "max": 10, "metrics": [{"name": "queue", "source": "prometheus", "query": "sum(jobs)", "target": 100}]}' });
  const form = h(
    'form',
    { class: 'card create', novalidate: true, 'aria-labelledby': 'create-policy-title' },
    h('h2', { id: 'create-policy-title' }, 'New policy'),
    h('div', { class: 'grid' }, name.row, service.row, min.row, max.row, interval.row, cpu.row),
    h('div', { class: 'grid' }, dryRun.row, paused.row),
    h('details', { class: 'advanced' }, h('summary', null, 'Or the whole policy as JSON'), json.row),
    formError(),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Create policy')),
  );
  submitting(form, async (data) => {
    const raw = String(data.get('json') || '').trim();
    const sent = raw ? parseJson(raw, 'policy') : {
      name: String(data.get('name') || '').trim(),
      service: String(data.get('service') || ''),
      min: Number(data.get('min')),
      max: Number(data.get('max')),
      interval: String(data.get('interval') || '').trim() || undefined,
      metrics: [{ name: 'cpu', source: 'engine', metric: 'cpu', target: Number(data.get('cpu')) }],
      dry_run: data.get('dry_run') === 'on',
      paused: data.get('paused') === 'on',
    };
    const created = await post('v1/policies', sent);
    // the other fields keep their values: the next policy is often a variant
    name.control.value = '';
    json.control.value = '';
    await onCreated(created);
  });
  return form;
}

function editForm(p, { onSaved, onCancel }) {
  const json = field({ name: 'json', label: `Policy ${p.name} as JSON`, kind: 'textarea', apiName: 'policy',
    value: JSON.stringify(body(p), null, 2), hint: 'Each field given replaces the stored one whole; null puts it back to its default.' });
  const form = h(
    'form',
    { class: 'edit', novalidate: true, 'aria-label': `Edit ${p.name}` },
    json.row,
    formError(),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', onclick: onCancel }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Save policy')),
  );
  submitting(form, async (data) => {
    const sent = parseJson(String(data.get('json') || ''), 'policy');
    await onSaved(await patch(`v1/policies/${p.id}`, sent));
  });
  return form;
}

function policyRow(p, { onChange, services }) {
  const status = h('p', { class: 'row-status', role: 'status' });
  const editing = h('div');
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
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  const service = services.find((sv) => sv.name === p.service || sv.ref === p.service);
  const buttons = h(
    'div',
    { class: 'actions', role: 'group', 'aria-label': `Actions on ${p.name}` },
    act('Edit', async () => {
      fill(editing, editForm(p, {
        onSaved: async () => onChange(),
        onCancel: () => fill(editing),
      }));
      editing.querySelector('textarea').focus();
    }),
    act(p.paused ? 'Resume' : 'Pause', async () => onChange(await patch(`v1/policies/${p.id}`, { paused: !p.paused }))),
    act(p.dry_run ? 'Go live' : 'Dry run', async () => onChange(await patch(`v1/policies/${p.id}`, { dry_run: !p.dry_run }))),
    act('Delete', async () => {
      const ok = await confirm({
        title: `Delete policy ${p.name}?`,
        body: `scalehook stops scaling ${p.target} by it at once. Its executions stay in the activity.`,
        confirmLabel: 'Delete',
      });
      if (!ok) return;
      await del(`v1/policies/${p.id}`);
      onChange(null);
    }),
  );
  const last = p.last_scaling;
  return h(
    'tr',
    { 'data-policy': p.name },
    h('td', { 'data-label': 'Name' }, h('a', { href: `#/activity?receiver=${encodeURIComponent(p.name)}`, title: 'Its activity' }, p.name)),
    h('td', { 'data-label': 'Service' }, service ? h('a', { href: `#/services/${refPath(service.ref)}` }, p.service)
      : p.hosts ? h('a', { href: '#/hosts', title: 'A host group: the hosts with these labels' }, p.target) : p.target),
    h('td', { 'data-label': 'Min / max', class: 'num' }, `${p.min} – ${p.max}`),
    h('td', { 'data-label': 'Metrics' }, metricLines(p),
      (p.warnings || []).map((w) => h('div', { class: 'small warn' }, w))),
    h('td', { 'data-label': 'State', class: 'state' }, state(p)),
    h('td', { 'data-label': 'Last scaling', class: 'muted' },
      last ? h('span', { title: when(last.started_at) }, `${last.before} → ${last.after}, ${age(last.started_at)}`) : '–'),
    h('td', { 'data-label': 'Actions' }, buttons, status, editing),
  );
}

function simulateForm(getPolicies) {
  const policy = field({ name: 'policy', label: 'Policy', kind: 'select', options: [] });
  const current = field({ name: 'current', label: 'Current replicas', kind: 'int', value: 2, min: 0 });
  const samples = field({ name: 'samples', label: 'Samples', placeholder: 'cpu=90,80,null',
    hint: 'metric=value,value... one value per replica (null: no sample yet); several metrics separated by ;' });
  const result = h('div', { class: 'simulation', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'card simulate', novalidate: true, 'aria-labelledby': 'simulate-title' },
    h('h2', { id: 'simulate-title' }, 'Simulate'),
    h('p', { class: 'muted' }, 'What a policy would decide from these samples. Acts on nothing.'),
    h('div', { class: 'grid' }, policy.row, current.row, samples.row),
    formError(),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Simulate')),
    result,
  );
  const refresh = () => {
    const chosen = policy.control.value;
    fill(policy.control, getPolicies().map((p) => h('option', { value: p.id, selected: String(p.id) === chosen }, p.name)));
  };
  submitting(form, async (data) => {
    fill(result);
    const chosen = getPolicies().find((p) => String(p.id) === String(data.get('policy')));
    if (!chosen) {
      const error = new Error('choose a policy (create one first)');
      error.field = 'policy';
      throw error;
    }
    const answer = await post('v1/policies/simulate', {
      policy: body(chosen),
      current: Number(data.get('current')),
      samples: parseSamples(data.get('samples')),
    });
    fill(
      result,
      h('p', { class: 'desired', 'data-desired': answer.desired }, `Desired: ${answer.desired}`),
      h('p', { class: 'muted' }, `${answer.current} now, ${answer.recommendation} recommended`,
        answer.winner ? `, by ${answer.winner}` : '', answer.limited_by.length ? `; limited by ${answer.limited_by.join(', ')}` : ''),
      h('ul', { class: 'reasons', 'aria-label': 'Reasons' }, answer.reasons.map((r) => h('li', null, r))),
      h('ul', { class: 'metric-outcomes', 'aria-label': 'Each metric' }, answer.metrics.map((m) =>
        h('li', null, `${m.name}: ${m.value ?? 'no value'} → ${m.candidate ?? 'no say'}`, m.error ? ` (${m.error})` : '', m.reason ? ` — ${m.reason}` : ''))),
    );
  });
  return { form, refresh };
}

export default {
  id: 'policies',
  title: 'Policies',
  nav: true,
  async render(main) {
    const [policies, services] = await Promise.all([loadPolicies(), get('v1/services').catch(() => [])]);
    let current = policies;
    const tbody = h('tbody');
    const none = h('p', { class: 'muted' }, 'No policies yet: create one below.');
    const simulate = simulateForm(() => current);
    const draw = (list) => {
      current = list;
      none.hidden = list.length > 0;
      fill(tbody, list.map((p) => policyRow(p, { services, onChange: async () => draw(await loadPolicies()) })));
      simulate.refresh();
    };
    const table = h('table', { class: 'policies' },
      h('caption', { class: 'visually-hidden' }, 'Policies'),
      h('thead', null, h('tr', null, ['Name', 'Service', 'Min / max', 'Metrics', 'State', 'Last scaling', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody);
    fill(
      main,
      h('div', { class: 'page-head' }, h('h1', null, 'Policies')),
      none,
      h('div', { class: 'table-wrap' }, table),
      createForm(services, async () => draw(await loadPolicies())),
      simulate.form,
    );
    draw(policies);
  },
};
