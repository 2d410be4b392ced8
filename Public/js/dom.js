// DOM helpers shared by the views: element lookup and creation, the announcer, the notice bar, local storage.
// Nothing here touches the document until called.

export const $ = (sel, root = document) => root.querySelector(sel);

/** Creates an element: h('a', {href: '#', class: 'x', text: 'hi'}, child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** Says `text` through the polite live region (cleared first, so the same text is announced again). */
export function announce(text) {
  const el = $('#announcer');
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 30);
}

let noticeTimer = null;
export function notify(text, kind = 'info') {
  const bar = $('#notice');
  $('#notice-text').textContent = text;
  bar.dataset.kind = kind;
  bar.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  bar.hidden = false;
  clearTimeout(noticeTimer);
  if (kind !== 'error') noticeTimer = setTimeout(() => { bar.hidden = true; }, 6000);
}

/** localStorage that never throws: storage(key) reads, storage(key, value) writes, storage(key, null) removes. */
export function storage(key, value) {
  try {
    if (value === undefined) return localStorage.getItem(key);
    if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value);
  } catch { /* storage unavailable */ }
  return null;
}

/** The error box of a view filled from an ApiError: the field in code, then the message. */
export function showError(box, err) {
  box.replaceChildren(err.field ? h('code', { text: err.field }) : '', err.field ? ': ' : '', err.message);
  box.hidden = false;
}

export const b64url = (b64) => `data:image/png;base64,${b64}`;
