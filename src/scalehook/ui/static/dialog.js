// A confirmation in a modal <dialog>: focus moves into it, Escape cancels, and the
// answer is a promise (true: confirmed).

import { h } from './dom.js';

export function confirm({ title, body, confirmLabel, danger = true }) {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'submit', value: 'yes', class: danger ? 'danger' : 'primary' }, confirmLabel);
    const no = h('button', { type: 'submit', value: 'no', formnovalidate: true }, 'Cancel');
    const heading = h('h2', { id: 'confirm-title' }, title);
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-body' },
      h('form', { method: 'dialog' }, heading, h('p', { id: 'confirm-body' }, body), h('div', { class: 'buttons' }, no, yes)),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    no.focus();
  });
}
