// The page: sign-in, the navigation, and a hash router over the pages in pages/index.js.
// A page is one module: {id, title, nav, render(main, route) -> cleanup?}.

import { ApiError, del, get, post, setCsrf, whenSignedOut } from './api.js';
import { fill, h } from './dom.js';
import { PAGES } from './pages/index.js';
import { renderSignIn } from './pages/signin.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const account = document.getElementById('account');
let cleanup = null;
let signedIn = false;

/** "#/services/local%2Fweb?x=1" → {id: 'services', args: ['local/web'], query: URLSearchParams}. */
export function parseRoute(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const [path, search] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { id: parts[0] || 'services', args: parts.slice(1), query: new URLSearchParams(search || '') };
}

function stop() {
  if (typeof cleanup === 'function') cleanup();
  cleanup = null;
}

function drawNav(current) {
  fill(
    nav,
    h(
      'ul',
      null,
      PAGES.filter((p) => p.nav).map((p) =>
        h('li', null, h('a', { href: `#/${p.id}`, 'aria-current': p.id === current ? 'page' : null }, p.title)),
      ),
    ),
  );
  fill(account, h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'));
}

async function show() {
  stop();
  if (!signedIn) return;
  const route = parseRoute(location.hash);
  const page = PAGES.find((p) => p.id === route.id && (p.takesArgs ? route.args.length > 0 : route.args.length === 0))
    || PAGES.find((p) => p.id === route.id);
  drawNav(page ? page.navId || page.id : null);
  if (!page) {
    fill(main, h('h1', null, 'Not found'), h('p', null, `No page "${route.id}".`));
    return;
  }
  document.title = `${page.title} · scalehook`;
  fill(main);
  try {
    cleanup = await page.render(main, route);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    fill(main, h('h1', null, page.title), h('p', { class: 'form-error', role: 'alert' }, error.message));
  }
}

function showSignIn(message) {
  stop();
  signedIn = false;
  setCsrf(null);
  fill(nav);
  fill(account);
  document.title = 'Sign in · scalehook';
  renderSignIn(main, {
    message,
    async signIn(token) {
      const session = await post('ui/session', { token });
      start(session);
    },
  });
}

function start(session) {
  setCsrf(session.csrf_token);
  signedIn = true;
  show();
}

async function signOut() {
  try {
    await del('ui/session');
  } finally {
    showSignIn('Signed out.');
  }
}

whenSignedOut((message) => {
  if (signedIn) showSignIn(message);
});
window.addEventListener('hashchange', show);

async function boot() {
  try {
    start(await get('ui/session'));
  } catch (error) {
    showSignIn(error.status === 401 ? null : error.message);
  }
}

boot();
