// Form fields with their labels, and API errors shown next to the field they name.

import { h, uid } from './dom.js';

/**
 * One labelled control. kind: text, password, int, checkbox, select (options: [[value, label]]).
 * The control carries data-field, the name the API uses for it in errors.
 */
export function field({ name, label, kind = 'text', value, options, hint, required, min, max, placeholder, apiName, list }) {
  const id = uid(name);
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const common = {
    id,
    name,
    'data-field': apiName || name,
    'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
  };
  let control;
  if (kind === 'select') {
    control = h(
      'select',
      common,
      (options || []).map(([v, text]) => h('option', { value: v, selected: String(v) === String(value ?? '') }, text)),
    );
  } else if (kind === 'checkbox') {
    control = h('input', { ...common, type: 'checkbox', checked: Boolean(value) });
  } else if (kind === 'textarea') {
    control = h('textarea', { ...common, rows: 10, spellcheck: 'false', class: 'mono', placeholder: placeholder || null }, value ?? '');
  } else {
    control = h('input', {
      ...common,
      type: kind === 'int' ? 'number' : kind,
      inputmode: kind === 'int' ? 'numeric' : null,
      step: kind === 'int' ? '1' : null,
      value: value ?? '',
      required: required || null,
      min: min ?? null,
      max: max ?? null,
      placeholder: placeholder || null,
      autocomplete: kind === 'password' ? 'off' : null,
      list: list || null,
    });
  }
  const row = h(
    'div',
    { class: kind === 'checkbox' ? 'field check' : 'field' },
    kind === 'checkbox' ? [control, h('label', { for: id }, label)] : [h('label', { for: id }, label), control],
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: errorId, hidden: true }),
  );
  return { row, control };
}

/** A form-wide error line (for errors that name no field of the form). */
export function formError() {
  return h('p', { class: 'form-error', role: 'alert', hidden: true });
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error, .form-error')) {
    el.hidden = true;
    el.textContent = '';
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

function controlFor(form, fieldName) {
  if (!fieldName) return null;
  const controls = [...form.querySelectorAll('[data-field]')];
  const exact = controls.find((c) => c.dataset.field === fieldName);
  if (exact) return exact;
  // "config.amount" names the control for "amount"; "config.selector.app" the selector's
  const parts = fieldName.split('.');
  for (let i = 1; i < parts.length; i += 1) {
    const tail = parts.slice(i).join('.');
    const found = controls.find((c) => c.dataset.field === tail || c.dataset.field === parts.slice(0, i + 1).join('.'));
    if (found) return found;
  }
  // "samples.cpu" or "policy.metrics[0].target": the control for the whole of its first part
  return controls.find((c) => c.dataset.field === parts[0].replace(/\[\d+\]$/, '')) || null;
}

/** Show an error: under its field when the API named one the form has, else for the form. */
export function showError(form, error) {
  const control = controlFor(form, error.field);
  if (control) {
    const line = form.querySelector(`#${CSS.escape(control.id)}-error`);
    if (line) {
      line.textContent = error.message;
      line.hidden = false;
      control.setAttribute('aria-invalid', 'true');
      control.focus();
      return;
    }
  }
  const line = form.querySelector('.form-error');
  if (line) {
    line.textContent = error.message;
    line.hidden = false;
  }
}

/** Disable a form's submit button while it runs, and show errors where they belong. */
export function submitting(form, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const buttons = [...form.querySelectorAll('button[type=submit]')];
    for (const b of buttons) b.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      await action(new FormData(form));
    } catch (error) {
      showError(form, error);
    } finally {
      for (const b of buttons) b.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
  return form;
}
