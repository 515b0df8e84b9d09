// Scaling by hand, as the CLI does: POST /v1/services/{ref}/scale {replicas}, recorded
// in the audit trail with driver "api". The controls are disabled, with the reason,
// while a rollout runs on the service or when it has no count to set.

import { post, ref as refPath } from './api.js';
import { h, text, uid } from './dom.js';

/** Why a service cannot be scaled now, or null. */
export function blocked(service, running) {
  if (!service.scalable) return `${service.mode} service: it has no replica count to set`;
  const rollout = running.find((e) => e.target === service.ref || e.target === service.name);
  if (rollout) return `a rollout is running (execution #${rollout.id}): scale when it ends`;
  return null;
}

/** −, +, and a "Replicas" field with "Set"; update(service, running) keeps them current. */
export function scaleControls(service, { onScaled }) {
  const status = h('p', { class: 'scale-status', role: 'status', id: uid('scale-status') });
  const inputId = uid('replicas');
  const down = h('button', { type: 'button', class: 'icon', 'aria-label': 'Scale down', title: 'Scale down' }, '−');
  const up = h('button', { type: 'button', class: 'icon', 'aria-label': 'Scale up', title: 'Scale up' }, '+');
  const input = h('input', {
    id: inputId, name: 'replicas', type: 'number', min: '0', step: '1', inputmode: 'numeric',
    'data-field': 'replicas', class: 'replicas', 'aria-describedby': status.id,
  });
  const set = h('button', { type: 'submit' }, 'Set');
  let current = service;
  let busy = false;

  // While a scale runs the controls stay focusable (a disabled button would drop the
  // keyboard focus); a second click is ignored instead.
  const scale = async (replicas) => {
    if (busy || current.blockedBy) return;
    busy = true;
    form.setAttribute('aria-busy', 'true');
    status.classList.remove('bad');
    text(status, `Scaling to ${replicas}…`);
    try {
      const execution = await post(`v1/services/${refPath(current.ref)}/scale`, { replicas });
      text(status, execution.message || `${execution.result}`);
      input.value = '';
      if (onScaled) await onScaled(execution);
    } catch (error) {
      status.classList.add('bad');
      text(status, error.message);
      if (error.field === 'replicas') input.setAttribute('aria-invalid', 'true');
    } finally {
      busy = false;
      form.removeAttribute('aria-busy');
    }
  };
  down.addEventListener('click', () => scale(Math.max(0, current.desired - 1)));
  up.addEventListener('click', () => scale(current.desired + 1));
  const form = h(
    'form',
    { class: 'scale', novalidate: true, 'aria-label': `Scale ${service.name}` },
    down, up,
    h('label', { for: inputId, class: 'replicas-label' }, 'Replicas'),
    input, set,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    input.removeAttribute('aria-invalid');
    const raw = input.value.trim();
    const replicas = raw === '' ? NaN : Number(raw);
    if (!Number.isInteger(replicas)) {
      status.classList.add('bad');
      text(status, 'replicas: give a whole number, e.g. 3');
      input.setAttribute('aria-invalid', 'true');
      return;
    }
    scale(replicas);
  });

  const update = (next, running) => {
    const why = blocked(next, running);
    current = { ...next, blockedBy: why };
    input.placeholder = String(next.desired);
    for (const c of [down, up, input, set]) c.disabled = Boolean(why);
    down.disabled = down.disabled || next.desired <= 0;
    if (why) {
      status.classList.remove('bad');
      text(status, `Scaling is off: ${why}.`);
      status.dataset.blocked = 'true';
    } else if (status.dataset.blocked) {
      delete status.dataset.blocked;
      text(status, '');
    }
  };
  update(service, []);
  return { root: h('div', { class: 'scale-cell' }, form, status), update };
}
