// Sign in with the admin token. The token goes to POST /ui/session once and is not kept:
// the browser holds only the session cookie (HttpOnly) and, in memory, a CSRF token.

import { fill, h } from '../dom.js';
import { field, formError, submitting } from '../forms.js';

export function renderSignIn(main, { message, signIn }) {
  const token = field({ name: 'token', label: 'Admin token', kind: 'password', required: true });
  const form = h(
    'form',
    { class: 'card signin', novalidate: true, 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to scalehook'),
    message ? h('p', { class: 'notice', role: 'status' }, message) : null,
    h('p', { class: 'hint' }, 'Use the admin token: SCALEHOOK_ADMIN_TOKEN, or the one scalehook wrote to admin-token in its data directory at first start.'),
    token.row,
    formError(),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
  );
  submitting(form, async (data) => {
    await signIn(String(data.get('token') || ''));
  });
  fill(main, form);
  token.control.focus();
}
