// A service's health check as a form in Cattle's words ("Check Interval", "Healthy
// After N successes", "Unhealthy After N failures", "When Unhealthy"), saved whole
// through PUT /v1/services/{ref}/healthcheck and removed through DELETE.

import { ApiError, del, get, request, ref as refPath } from './api.js';
import { confirm } from './dialog.js';
import { fill, h, text, uid } from './dom.js';
import { field, formError, submitting } from './forms.js';

const STRATEGIES = [
  ['none', 'Take no action'],
  ['recreate', 'Re-create'],
  ['quorum', 'Re-create, only when at least N are healthy'],
];

const DEFAULTS = { tcp: true, http: null, port: null, interval: '2s', timeout: '2s', healthy_threshold: 2, unhealthy_threshold: 3, strategy: 'recreate', quorum: 1 };

async function load(service) {
  try {
    return await get(`v1/services/${refPath(service.ref)}/healthcheck`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

function whenUnhealthy(check) {
  const name = uid('strategy');
  const quorum = h('input', { type: 'number', min: 1, step: 1, inputmode: 'numeric', name: 'quorum', 'data-field': 'quorum',
    value: check.quorum ?? 1, id: `${name}-quorum`, 'aria-label': 'N: healthy replicas needed before re-creating' });
  const options = STRATEGIES.map(([value, label]) => {
    const id = `${name}-${value}`;
    const radio = h('input', { type: 'radio', name: 'strategy', value, id, 'data-field': 'strategy', checked: check.strategy === value });
    return h('label', { for: id }, radio, ` ${label}`, value === 'quorum' ? [' (N: ', quorum, ')'] : null);
  });
  return h('fieldset', { class: 'when' }, h('legend', null, 'When Unhealthy'), options,
    h('p', { class: 'field-error', id: `${quorum.id}-error`, hidden: true }));
}

// The check's fields this form edits; every other field of a check is kept as it is.
const SHOWN = new Set(['http', 'tcp', 'docker', 'port', 'interval', 'timeout', 'healthy_threshold', 'unhealthy_threshold', 'strategy', 'quorum']);

export function healthCheckForm(service) {
  const root = h('div', { class: 'health-form' });
  const status = h('p', { class: 'row-status', role: 'status' });
  const draw = (view) => {
    const check = view ? view.check : DEFAULTS;
    const probe = field({ name: 'probe', label: 'Probe', kind: 'select', value: check.docker ? 'docker' : check.http ? 'http' : 'tcp', apiName: 'tcp',
      options: [['tcp', 'TCP connect'], ['http', 'HTTP request'], ['docker', "The container's HEALTHCHECK"]] });
    const http = field({ name: 'http', label: 'HTTP request', value: check.http || 'GET / HTTP/1.0', hint: 'a 2xx or 3xx answer passes' });
    const port = field({ name: 'port', label: 'Port', kind: 'int', value: check.port ?? '', min: 1, max: 65535, hint: 'empty: the replica\'s port' });
    const interval = field({ name: 'interval', label: 'Check Interval', value: check.interval, hint: 'e.g. 2s, 500ms' });
    const timeout = field({ name: 'timeout', label: 'Timeout', value: check.timeout, hint: 'at most the interval' });
    const healthy = field({ name: 'healthy_threshold', label: 'Healthy After N successes', kind: 'int', value: check.healthy_threshold, min: 1 });
    const unhealthy = field({ name: 'unhealthy_threshold', label: 'Unhealthy After N failures', kind: 'int', value: check.unhealthy_threshold, min: 1 });
    const showHttp = () => { http.row.hidden = probe.control.value !== 'http'; };
    probe.control.addEventListener('change', showHttp);
    showHttp();
    const remove = h('button', { type: 'button', class: 'danger', disabled: !view || view.source !== 'api' }, 'Remove health check');
    const form = h(
      'form',
      { class: 'card', novalidate: true, 'aria-label': `Health check of ${service.name}` },
      view
        ? h('p', { class: 'muted' }, view.source === 'file' ? 'Declared in scalehook.yaml; saving here replaces it while it exists.' : 'Set through the API.',
          view.error ? ` Last round: ${view.error}` : '')
        : h('p', { class: 'muted' }, 'No health check: its replicas are not checked.'),
      h('div', { class: 'grid' }, probe.row, http.row, port.row, interval.row, timeout.row, healthy.row, unhealthy.row),
      whenUnhealthy(check),
      formError(),
      h('div', { class: 'buttons' }, remove, h('button', { type: 'submit', class: 'primary' }, 'Save health check')),
    );
    remove.addEventListener('click', async () => {
      const ok = await confirm({
        title: `Remove the health check of ${service.name}?`,
        body: 'Its replicas stop being checked (a check declared in scalehook.yaml applies again).',
        confirmLabel: 'Remove',
      });
      if (!ok) return;
      try {
        await del(`v1/services/${refPath(service.ref)}/healthcheck`);
        draw(await load(service));
        text(status, 'Health check removed.');
      } catch (error) {
        text(status, error.message);
      }
    });
    submitting(form, async (data) => {
      text(status, '');
      const num = (key) => (String(data.get(key) || '').trim() === '' ? undefined : Number(data.get(key)));
      // a duration as typed ("2s", "500ms"); a bare number is seconds
      const duration = (key) => {
        const typed = String(data.get(key) || '').trim();
        if (!typed) return undefined;
        return /^\d+(\.\d+)?$/.test(typed) ? Number(typed) : typed;
      };
      // what the form does not show (initializing timeouts, recreation limits, backoff)
      // is sent back as it is: saving the form never resets it
      const kept = Object.fromEntries(
        Object.entries(view ? view.check : {}).filter(([key, value]) => !SHOWN.has(key) && value !== null && value !== undefined),
      );
      const sent = {
        ...kept,
        interval: duration('interval'),
        timeout: duration('timeout'),
        port: num('port'),
        healthy_threshold: num('healthy_threshold'),
        unhealthy_threshold: num('unhealthy_threshold'),
        strategy: String(data.get('strategy') || 'recreate'),
      };
      if (sent.strategy === 'quorum') sent.quorum = num('quorum');
      if (data.get('probe') === 'http') sent.http = String(data.get('http') || '').trim();
      else if (data.get('probe') === 'docker') sent.docker = true;
      else sent.tcp = true;
      const saved = await request('PUT', `v1/services/${refPath(service.ref)}/healthcheck`, { body: sent });
      draw(saved);
      text(status, 'Health check saved.');
    });
    fill(root, form, status);
  };
  return {
    root,
    async start() {
      try {
        draw(await load(service));
      } catch (error) {
        fill(root, h('p', { class: 'form-error', role: 'alert' }, error.message));
      }
    },
  };
}
