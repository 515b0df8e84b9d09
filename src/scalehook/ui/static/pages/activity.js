// Activity: the audit trail, live. The list loads once (GET /v1/executions), then grows
// from the stream (GET /v1/executions/stream) with the same filters: receiver, service,
// result. Each execution opens to its details; a running rollout shows its batches.
// "#/activity?execution=ID" (the link a notification carries) shows that one, opened.

import { get } from '../api.js';
import { fill, h, text } from '../dom.js';
import { executionList } from '../executions.js';
import { field } from '../forms.js';
import { listen, newest } from '../stream.js';

export const RESULTS = [
  'scaled', 'clamped', 'noop', 'deduped', 'cooldown', 'label_mismatch', 'ignored', 'dry_run',
  'paused', 'failed', 'rejected', 'upgrading', 'rolling_back', 'upgraded', 'rolled_back',
  'superseded', 'cancelled', 'added', 'removed',
];

export default {
  id: 'activity',
  title: 'Activity',
  nav: true,
  async render(main, route) {
    const one = route.query.get('execution');
    if (one) return renderOne(main, one);
    const filters = {
      receiver: route.query.get('receiver') || '',
      service: route.query.get('service') || '',
      result: route.query.get('result') || '',
    };
    const [receivers, services] = await Promise.all([
      get('v1/receivers').catch(() => []),
      get('v1/services').catch(() => []),
    ]);
    const withCurrent = (options, value) => (value && !options.some(([v]) => v === value) ? [...options, [value, value]] : options);
    const receiverField = field({
      name: 'receiver', label: 'Receiver', kind: 'select', value: filters.receiver,
      options: withCurrent([['', 'Any'], ...receivers.map((r) => [r.name, r.name])], filters.receiver),
    });
    const serviceField = field({
      name: 'service', label: 'Service', kind: 'select', value: filters.service,
      options: withCurrent([['', 'Any'], ...services.map((s) => [s.ref, s.ref])], filters.service),
    });
    const resultField = field({
      name: 'result', label: 'Result', kind: 'select', value: filters.result,
      options: withCurrent([['', 'Any'], ...RESULTS.map((r) => [r, r])], filters.result),
    });
    const form = h('form', { class: 'filters', 'aria-label': 'Filter the activity' }, receiverField.row, serviceField.row, resultField.row);
    const onFilter = () => {
      const q = new URLSearchParams();
      for (const [k, c] of [['receiver', receiverField], ['service', serviceField], ['result', resultField]]) {
        if (c.control.value) q.set(k, c.control.value);
      }
      location.hash = `#/activity${q.toString() ? `?${q}` : ''}`;
    };
    form.addEventListener('change', onFilter);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      onFilter();
    });
    const live = h('p', { class: 'live-state', role: 'status' }, 'Connecting…');
    const list = executionList({ label: 'Executions, newest first', empty: 'No executions match.' });
    fill(
      main,
      h('div', { class: 'page-head' }, h('h1', null, 'Activity'), live),
      h('p', { class: 'muted' }, 'What happened, newest first. A running rollout is drawn as now; everything else is history, with its age.'),
      form,
      list.root,
    );
    const first = await get('v1/executions', { ...filters, limit: 100 });
    list.reset(first);
    const stop = listen(filters, {
      after: newest(first),
      onExecution: (e) => list.upsert(e, { fresh: true }),
      onState: (state) => {
        live.dataset.state = state;
        text(live, { live: 'Live', reconnecting: 'Reconnecting…', closed: 'Not live: reload the page' }[state] || state);
      },
    });
    return () => {
      stop();
      list.stop();
    };
  },
};

async function renderOne(main, ident) {
  const list = executionList({ label: `Execution ${ident}`, empty: 'There is no such execution.' });
  fill(
    main,
    h('div', { class: 'page-head' }, h('h1', null, `Execution #${ident}`)),
    h('p', null, h('a', { href: '#/activity' }, 'All activity')),
    list.root,
  );
  list.reset(await get(`v1/executions/${encodeURIComponent(ident)}`).then((e) => [e], () => []));
  const details = list.root.querySelector('details');
  if (details) details.open = true;
  return () => list.stop();
}
