// The HTTP client: fetch wrappers that turn the server's error bodies into ApiError, and the connection badge.
import { $, storage } from './dom.js';

export class ApiError extends Error {
  constructor(status, body, fallback) {
    const e = body && body.error;
    super(typeof e === 'string' ? e : (e && e.message) || fallback || `HTTP ${status}`);
    this.status = status;
    this.code = e && typeof e === 'object' ? e.code : undefined;
    this.field = e && typeof e === 'object' ? e.field : undefined;
  }
}

/** How the page gets updates: live | polling | offline | connecting. `liveStreams` tells, once the server
 *  answers again after being unreachable, whether any event stream is open. */
export const connection = { mode: 'connecting', liveStreams: () => 0 };

export function setConnection(mode) {
  connection.mode = mode;
  const el = $('#conn-status');
  el.dataset.mode = mode;
  el.textContent = { live: 'live updates', polling: 'polling', offline: 'server unreachable', connecting: 'connecting…' }[mode] || mode;
}

/** One request; a non-2xx answer becomes an ApiError carrying the server's error body. */
async function send(method, path, { json, body, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (json !== undefined) { init.body = JSON.stringify(json); init.headers['Content-Type'] = 'application/json'; }
  else if (body !== undefined) init.body = body;
  const token = storage('sequent.token');
  if (token && method !== 'GET') init.headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    setConnection('offline');
    throw new ApiError(0, null, 'The server cannot be reached.');
  }
  if (connection.mode === 'offline') setConnection(connection.liveStreams() ? 'live' : 'polling');
  if (!res.ok) {
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (res.status === 401) $('#token-bar').hidden = false;
    throw new ApiError(res.status, data, text.slice(0, 200));
  }
  return res;
}

/** A JSON request: the parsed body (null when it is empty or not JSON). */
export async function api(method, path, options) {
  const text = await (await send(method, path, options)).text();
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

/** A request whose answer is a file (a CSV): its body as a Blob. */
export async function apiBlob(method, path, options) {
  return (await send(method, path, options)).blob();
}

export const enc = encodeURIComponent;
