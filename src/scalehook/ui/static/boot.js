// A classic script, run before the page's modules: if one of them cannot be fetched (the
// network changed under the browser, scalehook restarted), the module graph never runs
// and the page would stay blank. Say so instead, with a way to try again.
'use strict';

window.addEventListener(
  'error',
  (event) => {
    const target = event.target;
    if (!(target instanceof HTMLScriptElement) || target.type !== 'module') return;
    const main = document.getElementById('main');
    if (!main) return;
    const title = document.createElement('h1');
    title.textContent = 'The page did not load';
    const why = document.createElement('p');
    why.className = 'form-error';
    why.setAttribute('role', 'alert');
    why.textContent = 'Part of it could not be fetched from scalehook (the network changed, or scalehook did not answer).';
    const again = document.createElement('button');
    again.type = 'button';
    again.className = 'primary';
    again.textContent = 'Reload';
    again.addEventListener('click', () => location.reload());
    main.replaceChildren(title, why, again);
  },
  true,
);
