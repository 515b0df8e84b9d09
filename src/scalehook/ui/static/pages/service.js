// One service: its counts and scale controls, its replicas, its scaling timeline and its
// recent executions, its policies (each metric's value against its target) and its
// health check form. The page is a list of sections (SECTIONS).

import { get, ref as refPath } from '../api.js';
import { fill, h, text } from '../dom.js';
import { executionList } from '../executions.js';
import { bytes, labels, percent, when } from '../format.js';
import { scaleControls } from '../scale.js';
import { every, listen, newest } from '../stream.js';
import { timeline } from '../timeline.js';
import { healthCheckForm } from '../healthcheck.js';
import { metricLines, state as policyState } from '../policy.js';
import { loadPolicies } from './policies.js';
import { loadRunning } from './services.js';

const first = (obj, ...keys) => {
  for (const k of keys) if (obj && obj[k] !== undefined && obj[k] !== null) return obj[k];
  return null;
};

function replicaRows(replicas) {
  return replicas.map((r) => {
    const cpu = first(r, 'cpu_percent', 'cpu');
    const memory = first(r, 'memory_bytes', 'memory');
    const memoryLimit = first(r, 'memory_limit');
    const cells = [
      ['Replica', r.id, 'mono'],
      ['State', r.ready ? (r.state === 'ready' ? 'ready' : `${r.state}, ready`) : `${r.state}, not ready`, r.ready ? 'ok' : 'warn'],
      // its health check's verdict, the reason on hover (none: the service has no check)
      ['Health', r.health ? r.health.state : '–', r.health ? (r.health.state === 'healthy' ? 'ok' : 'warn') : 'muted', r.health ? r.health.reason : null],
      ['Address', r.address || '–', 'mono'],
      ['Version', r.image || '–', 'mono'],
      ['CPU', percent(cpu), 'num'],
      ['Memory', memoryLimit ? `${bytes(memory)} of ${bytes(memoryLimit)}` : bytes(memory), 'num'],
      ['Started', r.started_at ? when(r.started_at) : '–', 'muted'],
      ['Restarts', r.restarts ?? '–', 'num'],
    ];
    return h('tr', { 'data-replica': r.id }, cells.map(([label, value, cls, title]) => h('td', { 'data-label': label, class: cls, title }, value)));
  });
}

const summarySection = {
  title: null,
  make(ctx) {
    const counts = h('p', { class: 'counts', role: 'status', 'aria-live': 'polite' });
    const facts = h('p', { class: 'muted' });
    const controls = scaleControls(ctx.service, { onScaled: () => ctx.refresh() });
    return {
      root: h('div', { class: 'summary' }, counts, facts, controls.root),
      update({ service, running }) {
        text(counts, `${service.desired} desired · ${service.running} running · ${service.ready} ready`);
        text(facts, [service.backend, service.image, labels(service.labels)].filter(Boolean).join(' · '));
        controls.update(service, running);
      },
    };
  },
};

const replicasSection = {
  title: 'Replicas',
  make() {
    const tbody = h('tbody');
    const table = h('table', { class: 'replicas' },
      h('thead', null, h('tr', null, ['Replica', 'State', 'Health', 'Address', 'Version', 'CPU', 'Memory', 'Started', 'Restarts'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody);
    return {
      root: h('div', { class: 'table-wrap' }, table),
      update({ service }) {
        fill(tbody, replicaRows(service.replicas || []));
      },
    };
  },
};

const timelineSection = {
  title: 'Scaling timeline',
  make() {
    const root = h('div');
    let drawn = '';
    return {
      root,
      update({ service, executions }) {
        const key = `${service.desired}:${executions.map((e) => `${e.id}.${e.after}`).join(',')}`;
        if (key === drawn) return;
        drawn = key;
        fill(root, timeline(executions, service.desired));
      },
    };
  },
};

const executionsSection = {
  title: 'Recent executions',
  make(ctx) {
    const list = executionList({ label: `Executions of ${ctx.service.name}` });
    ctx.lists.push(list);
    return {
      root: h('div', null, list.root, h('p', null, h('a', { href: `#/activity?service=${encodeURIComponent(ctx.service.ref)}` }, 'All activity of this service'))),
      update({ executions }) {
        for (const e of [...executions].reverse()) list.upsert(e);
      },
    };
  },
};

const POLICY_REFRESH_MS = 5000;

const policiesSection = {
  title: 'Policies',
  make(ctx) {
    const root = h('div');
    const svc = ctx.service;
    let loaded = 0;
    let loading = false;
    const load = async () => {
      if (loading) return;
      loading = true;
      loaded = Date.now();
      try {
        const mine = await loadPolicies((p) => p.service === svc.ref || p.service === svc.name);
        fill(root, mine.length
          ? h('ul', { class: 'service-policies', 'aria-label': `Policies of ${svc.name}` }, mine.map((p) =>
            h('li', { 'data-policy': p.name },
              h('a', { href: '#/policies' }, p.name), ' ', policyState(p), ` ${p.min} – ${p.max} replicas `,
              h('div', null, metricLines(p)))))
          : h('p', { class: 'muted' }, 'No policy scales this service. ', h('a', { href: '#/policies' }, 'Create one')));
      } catch (error) {
        fill(root, h('p', { class: 'form-error', role: 'alert' }, error.message));
      } finally {
        loading = false;
      }
    };
    return {
      root,
      update() {
        if (Date.now() - loaded >= POLICY_REFRESH_MS) load();
      },
    };
  },
};

const healthSection = {
  title: 'Health check',
  make(ctx) {
    const form = healthCheckForm(ctx.service);
    form.start();
    return { root: form.root, update() {} };
  },
};

export const SECTIONS = [summarySection, replicasSection, timelineSection, policiesSection, healthSection, executionsSection];

export default {
  id: 'services',
  navId: 'services',
  takesArgs: true,
  title: 'Service',
  async render(main, route) {
    const name = route.args.join('/');
    let service = await get(`v1/services/${refPath(name)}`);
    let running = await loadRunning();
    const executions = new Map();
    for (const e of await get('v1/executions', { service: service.ref, limit: 200 })) executions.set(e.id, e);
    document.title = `${service.name} · scalehook`;
    const ctx = { service, lists: [], refresh: null };
    const parts = SECTIONS.map((section) => ({ section, made: section.make(ctx) }));
    const state = () => ({ service, running, executions: [...executions.values()].sort((a, b) => b.id - a.id) });
    const draw = () => parts.forEach((p) => p.made.update(state()));
    fill(
      main,
      h('p', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), ' / '),
      h('h1', null, service.name),
      parts.map(({ section, made }) =>
        h('section', { 'aria-label': section.title || service.name }, section.title ? h('h2', null, section.title) : null, made.root)),
    );
    ctx.refresh = async () => {
      [service, running] = await Promise.all([get(`v1/services/${refPath(service.ref)}`), loadRunning()]);
      draw();
    };
    draw();
    const stopPolling = every(2000, ctx.refresh, { immediate: false });
    const stopStream = listen({ service: service.ref }, {
      after: newest(executions.values()),
      onExecution(e) {
        executions.set(e.id, e);
        draw();
      },
    });
    return () => {
      stopPolling();
      stopStream();
      ctx.lists.forEach((l) => l.stop());
    };
  },
};
