// The JSON API the CLI uses, from the browser: the session cookie goes with every call
// (same origin), and every change carries the session's CSRF token, kept only here,
// in memory.

const ROOT = new URL('../', document.baseURI);
let csrfToken = null;
let onSignedOut = null;

export function setCsrf(token) {
  csrfToken = token;
}

/** Called when the API answers 401: the session has ended. */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export function url(path, query) {
  const u = new URL(path.replace(/^\//, ''), ROOT);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== '') u.searchParams.set(key, value);
  }
  return u.href;
}

/** An error answer of the API: its own message, and the field at fault if it named one. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error ? body.error : 'http_error';
    this.field = body && body.field ? body.field : null;
  }
}

export async function request(method, path, { query, body } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (exc) {
    throw new ApiError(0, { error: 'unreachable', message: `scalehook did not answer (${exc.message})` });
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && onSignedOut && !path.startsWith('ui/session')) {
      onSignedOut(error.message);
    }
    throw error;
  }
  return data;
}

export const get = (path, query) => request('GET', path, { query });
export const post = (path, body, query) => request('POST', path, { body, query });
export const patch = (path, body) => request('PATCH', path, { body });
export const del = (path, query) => request('DELETE', path, { query });

/** A path segment: a service ref such as "local/web" keeps its slash. */
export const ref = (value) => value.split('/').map(encodeURIComponent).join('/');
