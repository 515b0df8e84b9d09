// A policy as a page shows it: its state in one word, each metric's current value
// against its target (from its newest evaluation, or the details of its last scaling),
// and the body to send again (the fields as given, without what the API adds).

import { h } from './dom.js';

const SHOWN_ONLY = new Set(['id', 'target', 'effective', 'created_at', 'updated_at', 'warnings', 'evaluations', 'last_scaling']);

export function state(p) {
  if (p.paused) return h('span', { class: 'badge warn' }, 'paused');
  if (p.dry_run) return h('span', { class: 'badge info' }, 'dry run');
  return h('span', { class: 'badge ok' }, 'live');
}

/** The policy's own body, as POST /v1/policies takes it. */
export function body(p) {
  return Object.fromEntries(Object.entries(p).filter(([key]) => !SHOWN_ONLY.has(key)));
}

/** Each metric's outcome in the newest evaluation that has one (null: none yet). */
function outcomes(p) {
  const newest = (p.evaluations || []).find((e) => Array.isArray(e.metrics));
  if (newest) return { from: newest.at, metrics: newest.metrics };
  const details = p.last_scaling && p.last_scaling.details;
  if (details && Array.isArray(details.metrics)) return { from: p.last_scaling.started_at, metrics: details.metrics };
  return null;
}

function target(metric) {
  if (metric.target !== undefined && metric.target !== null) return { text: `target ${metric.target}`, value: Number(metric.target) };
  if (metric.upper !== undefined || metric.lower !== undefined) {
    return { text: `between ${metric.lower ?? '–'} and ${metric.upper ?? '–'}`, value: metric.upper ?? null };
  }
  return { text: metric.type || metric.source || '', value: null };
}

function number(value) {
  return Number.isInteger(value) ? String(value) : Number(value).toFixed(1);
}

/** One line per metric: "cpu: 72.0 against target 60"; one not read says so (never 0). */
export function metricLines(p) {
  const seen = outcomes(p);
  const byName = new Map((seen ? seen.metrics : []).map((m) => [m.name, m]));
  return (p.metrics || []).map((metric) => {
    const outcome = byName.get(metric.name);
    const goal = target(metric);
    let value = 'no value yet';
    let meter = null;
    if (outcome && outcome.error) value = `cannot be read: ${outcome.error}`;
    else if (outcome && outcome.value !== null && outcome.value !== undefined) {
      value = number(outcome.value);
      if (goal.value) {
        meter = h('meter', { min: 0, max: Math.max(goal.value * 2, outcome.value), optimum: 0, high: goal.value, value: outcome.value,
          'aria-label': `${metric.name} ${value} against ${goal.text}` });
      }
    }
    const line = meter ? `${metric.name}: ${value} against ${goal.text}` : `${metric.name}: ${value} (${goal.text})`;
    return h('span', { class: 'metric-value', 'data-metric': metric.name, title: outcome ? outcome.reason : null }, line, meter);
  });
}
