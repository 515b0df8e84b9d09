// The receiver drivers: the fields each takes (as the API's config names them) and a
// one-line description of a receiver. A driver the UI does not know still lists, with
// its config as JSON.

import { labels, parseLabels, plural } from './format.js';

const int = (name, label, value, extra = {}) => ({ name, label, kind: 'int', value, ...extra });
const secret = {
  name: 'secret', label: 'Secret', kind: 'password', optional: true, advanced: true,
  hint: 'Every call must prove it (X-Hub-Signature-256, or Authorization). Never shown again.',
};

export const DRIVERS = {
  scaleService: {
    label: 'Scale a service',
    fields: [
      { name: 'service', label: 'Service', kind: 'service', required: true },
      { name: 'action', label: 'Action', kind: 'select', value: 'up', options: [['up', 'Scale up'], ['down', 'Scale down']] },
      int('amount', 'Amount', 1, { min: 1 }),
      int('min', 'Min', 1, { min: 0 }),
      int('max', 'Max', 5, { min: 0 }),
      { name: 'cooldown', label: 'Cooldown', kind: 'text', optional: true, advanced: true, placeholder: '2m', hint: 'Least time between two actions of one direction, e.g. 2m.' },
      { name: 'on_resolved', label: 'When the alert resolves', kind: 'select', advanced: true, value: 'none', options: [['none', 'Do nothing'], ['down', 'Scale down'], ['up', 'Scale up']] },
      { name: 'match', label: 'Only alerts labelled', kind: 'text', optional: true, advanced: true, placeholder: 'severity=page' },
      secret,
    ],
    describe(c) {
      const bound = c.action === 'down' ? `min ${c.min}` : `max ${c.max}`;
      return `Scale ${c.action} ${c.service} by ${c.amount}, ${bound}`;
    },
  },
  serviceUpgrade: {
    label: 'Upgrade services on an image push',
    fields: [
      { name: 'selector', label: 'Services labelled', kind: 'labels', placeholder: 'app=shop', hint: 'Labels a service must all have (k=v, comma separated). Empty: every service.' },
      { name: 'tag_policy', label: 'Tag policy', kind: 'text', value: 'semver', list: 'tag-policies', hint: 'semver, semver:same-major, semver:same-minor, exact:<tag>, glob:<pattern>, regexp:<re>, force' },
      int('batch_size', 'Batch size', 1, { min: 1 }),
      { name: 'batch_interval', label: 'Batch interval', kind: 'text', value: '2s' },
      { name: 'health_timeout', label: 'Health timeout', kind: 'text', value: '60s' },
      { name: 'start_first', label: 'Start new replicas before stopping old ones', kind: 'checkbox', value: false },
      { name: 'on_failure', label: 'On failure', kind: 'select', value: 'rollback', options: [['rollback', 'Roll back'], ['pause', 'Pause']] },
      { name: 'source', label: 'Source', kind: 'select', advanced: true, value: '', optional: true, options: [['', 'Recognise it'], ['dockerhub', 'Docker Hub'], ['harbor', 'Harbor'], ['quay', 'Quay'], ['github', 'GitHub'], ['distribution', 'Docker Distribution / GitLab'], ['generic', '{"image": "repo:tag"}']] },
      secret,
    ],
    describe(c) {
      const who = Object.keys(c.selector || {}).length ? `services labelled ${labels(c.selector)}` : 'every service running the image';
      return `Upgrade ${who} on a ${c.tag_policy || 'semver'} push`;
    },
  },
  scaleHost: {
    label: 'Add or remove hosts',
    fields: [
      { name: 'selector', label: 'Hosts labelled', kind: 'labels', required: true, placeholder: 'group=batch' },
      { name: 'action', label: 'Action', kind: 'select', value: 'up', options: [['up', 'Add hosts'], ['down', 'Remove hosts']] },
      int('amount', 'Amount', 1, { min: 1 }),
      int('min', 'Min', 1, { min: 0 }),
      int('max', 'Max', 4, { min: 0 }),
      { name: 'remove_policy', label: 'Remove first', kind: 'select', value: 'least_busy', options: [['least_busy', 'The least busy'], ['oldest', 'The oldest'], ['newest', 'The newest']] },
      { name: 'drain_timeout', label: 'Drain timeout', kind: 'text', value: '5m', advanced: true },
      secret,
    ],
    describe(c) {
      const sel = labels(c.selector);
      if (c.action === 'down') {
        return `Remove ${plural(c.amount, 'host')} labelled ${sel}, min ${c.min} (${String(c.remove_policy || 'least_busy').replace('_', ' ')} first)`;
      }
      return `Add ${plural(c.amount, 'host')} labelled ${sel}, max ${c.max}`;
    },
  },
};

export function describe(receiver) {
  const driver = DRIVERS[receiver.driver];
  if (!driver) return `${receiver.driver}: ${JSON.stringify(receiver.config)}`;
  try {
    return driver.describe(receiver.config);
  } catch {
    return `${receiver.driver}: ${JSON.stringify(receiver.config)}`;
  }
}

/** The config a create form's values make, as the API takes it. */
export function configFrom(driverName, data) {
  const out = {};
  for (const f of DRIVERS[driverName].fields) {
    const raw = data.get(f.name);
    if (f.kind === 'checkbox') {
      out[f.name] = raw === 'on';
      continue;
    }
    const value = raw === null ? '' : String(raw).trim();
    if (value === '' && (f.optional || f.kind === 'int')) {
      if (f.kind === 'int' && !f.optional) out[f.name] = value === '' ? undefined : Number(value);
      continue;
    }
    if (f.kind === 'int') out[f.name] = Number.isInteger(Number(value)) ? Number(value) : value;
    else if (f.kind === 'labels') {
      try {
        out[f.name] = parseLabels(value);
      } catch (error) {
        const e = new Error(`${f.label}: ${error.message}`);
        e.field = `config.${f.name}`;
        throw e;
      }
    } else out[f.name] = value;
  }
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}
