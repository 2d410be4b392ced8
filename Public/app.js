// Sequent dashboard: jobs (live through Server-Sent Events), curves drawn on <canvas>, run comparison,
// prediction and a look at the training data. Plain JavaScript, no libraries, no network beyond this server.
'use strict';

(() => {
  // ---------------------------------------------------------------------------------------------------------
  // Small helpers
  const $ = (sel, root = document) => root.querySelector(sel);

  /** Creates an element: h('a', {href: '#', class: 'x', text: 'hi'}, child, …). */
  function h(tag, attrs = {}, ...children) {
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

  const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
  const ACTIVE = new Set(['queued', 'running', 'cancelling']);
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  function fmtNum(v, digits = 4) {
    if (!isNum(v)) return '—';
    if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(2);
    return Number(v.toFixed(digits)).toString();
  }
  const fmtInt = (v) => (isNum(v) ? Math.round(v).toLocaleString('en-US') : '—');
  const fmtPct = (v) => (isNum(v) ? `${(v * 100).toFixed(1)}%` : '—');
  function fmtDuration(seconds) {
    if (!isNum(seconds)) return '—';
    const s = Math.max(0, Math.round(seconds));
    const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
    return hh ? `${hh}:${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}` : `${mm}:${String(ss).padStart(2, '0')}`;
  }
  function fmtAgo(iso) {
    const t = Date.parse(iso);
    if (!Number.isFinite(t)) return '';
    const d = (Date.now() - t) / 1000;
    if (d < 45) return 'just now';
    if (d < 3600) return `${Math.round(d / 60)} min ago`;
    if (d < 86400) return `${Math.round(d / 3600)} h ago`;
    return new Date(t).toLocaleDateString();
  }
  const fmtDate = (iso) => (iso && Number.isFinite(Date.parse(iso))
    ? new Date(Date.parse(iso)).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) : '—');

  function announce(text) {
    const el = $('#announcer');
    el.textContent = '';
    setTimeout(() => { el.textContent = text; }, 30);
  }

  let noticeTimer = null;
  function notify(text, kind = 'info') {
    const bar = $('#notice');
    $('#notice-text').textContent = text;
    bar.dataset.kind = kind;
    bar.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    bar.hidden = false;
    clearTimeout(noticeTimer);
    if (kind !== 'error') noticeTimer = setTimeout(() => { bar.hidden = true; }, 6000);
  }

  function storage(key, value) {
    try {
      if (value === undefined) return localStorage.getItem(key);
      if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value);
    } catch { /* storage unavailable */ }
    return null;
  }

  // ---------------------------------------------------------------------------------------------------------
  // API client
  class ApiError extends Error {
    constructor(status, body, fallback) {
      const e = body && body.error;
      super(typeof e === 'string' ? e : (e && e.message) || fallback || `HTTP ${status}`);
      this.status = status;
      this.code = e && typeof e === 'object' ? e.code : undefined;
      this.field = e && typeof e === 'object' ? e.field : undefined;
    }
  }

  async function api(method, path, { json, body, headers = {} } = {}) {
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
    if (connMode === 'offline') setConnection(streams.size ? 'live' : 'polling');
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!res.ok) {
      if (res.status === 401) $('#token-bar').hidden = false;
      throw new ApiError(res.status, data, text.slice(0, 200));
    }
    return data;
  }

  let connMode = 'connecting';
  function setConnection(mode) {
    connMode = mode;
    const el = $('#conn-status');
    el.dataset.mode = mode;
    el.textContent = { live: 'live updates', polling: 'polling', offline: 'server unreachable', connecting: 'connecting…' }[mode] || mode;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Charts: a canvas line chart that stays fast with 100k points (per-pixel min/max when drawing), raw points
  // always drawn, optional debiased EMA smoothing on top, hover and keyboard read-outs.
  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = 10 ** Math.floor(Math.log10(raw));
    const n = raw / mag;
    return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
  }
  function ticks(lo, hi, count, integer) {
    let step = niceStep(hi - lo, count);
    if (integer) step = Math.max(1, Math.round(step));
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9 && out.length < 50; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }
  /** Zero-lag smoothing: a debiased exponential moving average run forwards, then backwards over the result,
   *  so the smoothed curve is not shifted to the right of the data (a one-way EMA lags behind it). */
  function smoothSeries(points, s) {
    const n = points.length, fwd = new Array(n), out = new Array(n);
    let acc = 0, weight = 0;
    for (let i = 0; i < n; i++) {
      acc = acc * s + (1 - s) * points[i][1];
      weight = weight * s + (1 - s);
      fwd[i] = acc / weight;
    }
    acc = 0; weight = 0;
    for (let i = n - 1; i >= 0; i--) {
      acc = acc * s + (1 - s) * fwd[i];
      weight = weight * s + (1 - s);
      out[i] = [points[i][0], acc / weight];
    }
    return out;
  }
  /** Series with fewer points are never smoothed (validation at a few epoch ends): there is nothing to average. */
  const MIN_SMOOTHED_POINTS = 10;
  /** Index of the point whose x is nearest to `x` (points sorted by x). */
  function nearest(points, x) {
    let lo = 0, hi = points.length - 1;
    if (hi < 0) return -1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (points[mid][0] < x) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && Math.abs(points[lo - 1][0] - x) <= Math.abs(points[lo][0] - x)) return lo - 1;
    return lo;
  }
  /** Traces a polyline; beyond two points per pixel column it draws each column's first/min/max/last instead. */
  function trace(ctx, points, X, Y, columns) {
    if (points.length <= columns * 2) {
      for (let i = 0; i < points.length; i++) {
        const px = X(points[i][0]), py = Y(points[i][1]);
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      }
      return;
    }
    let col = null, first = 0, last = 0, mn = 0, mx = 0, started = false;
    const flush = () => {
      if (col === null) return;
      const px = col + 0.5;
      if (!started) { ctx.moveTo(px, first); started = true; } else ctx.lineTo(px, first);
      ctx.lineTo(px, mn); ctx.lineTo(px, mx); ctx.lineTo(px, last);
    };
    for (const p of points) {
      const px = Math.floor(X(p[0])), py = Y(p[1]);
      if (px !== col) { flush(); col = px; first = last = mn = mx = py; }
      else { if (py < mn) mn = py; if (py > mx) mx = py; last = py; }
    }
    flush();
  }

  class Chart {
    constructor(figure, { title, yFormat = fmtNum } = {}) {
      this.figure = figure;
      this.title = title;
      this.yFormat = yFormat;
      this.series = [];
      this.hidden = new Set();
      this.smoothing = 0;
      this.xKind = 'step';
      this.hoverX = null;
      this.keyIndex = null;
      this.layout = null;
      this.box = h('div', { class: 'chart-box' });
      this.canvas = h('canvas', { tabindex: '0', role: 'img', 'aria-label': `${title}: no data yet` });
      this.tip = h('div', { class: 'chart-tip', 'aria-hidden': 'true', hidden: true });
      this.empty = h('p', { class: 'chart-empty', text: 'No points yet' });
      this.legend = h('ul', { class: 'legend', 'aria-label': `${title}: series (select to show or hide)` });
      this.live = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });
      this.box.append(this.canvas, this.empty, this.tip);
      figure.append(this.box, this.legend, this.live);
      figure.dataset.points = '0';
      new ResizeObserver(() => this.requestDraw()).observe(this.box);
      this.canvas.addEventListener('pointermove', (e) => this.pointer(e));
      this.canvas.addEventListener('pointerleave', () => { this.hoverX = null; this.requestDraw(); });
      this.canvas.addEventListener('keydown', (e) => this.key(e));
      this.canvas.addEventListener('blur', () => { this.hoverX = null; this.keyIndex = null; this.requestDraw(); });
    }

    /** Points the server should send per series: about one per pixel column. */
    get maxPoints() { return Math.max(64, Math.min(100000, Math.round((this.box.clientWidth || 800) * (window.devicePixelRatio || 1)))); }

    /** series: [{id, label, color, points: [[x, y], …], markers?: bool, dash?: [..]}]; xKind: step | wall | epoch. */
    setSeries(series, xKind) {
      this.xKind = xKind;
      this.series = series.map((s) => {
        let pts = s.points.filter((p) => isNum(p[0]) && isNum(p[1]));
        for (let i = 1; i < pts.length; i++) if (pts[i][0] < pts[i - 1][0]) { pts = pts.slice().sort((a, b) => a[0] - b[0]); break; }
        return { ...s, points: pts, smoothed: null };
      });
      this.smooth();
      this.renderLegend();
      this.requestDraw();
    }

    setSmoothing(s) { this.smoothing = s; this.smooth(); this.requestDraw(); }

    smooth() {
      for (const s of this.series) {
        s.smoothed = this.smoothing > 0 && s.points.length >= MIN_SMOOTHED_POINTS ? smoothSeries(s.points, this.smoothing) : null;
      }
    }

    visible() { return this.series.filter((s) => !this.hidden.has(s.id) && s.points.length); }

    renderLegend() {
      this.legend.replaceChildren(...this.series.map((s) => {
        const on = !this.hidden.has(s.id);
        const swatch = h('span', { class: `swatch${s.dash ? ' dashed' : ''}`, style: `background:${s.color};color:${s.color}` });
        const button = h('button', {
          type: 'button', class: 'small', 'aria-pressed': on ? 'true' : 'false',
          onclick: () => {
            if (this.hidden.has(s.id)) this.hidden.delete(s.id); else this.hidden.add(s.id);
            this.renderLegend(); this.requestDraw();
          },
        }, swatch, `${s.label} (${s.points.length})`);
        return h('li', {}, button);
      }));
    }

    requestDraw() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.draw(); });
    }

    formatX(x) {
      if (this.xKind === 'wall') return fmtDuration(x);
      if (this.xKind === 'epoch') return `epoch ${fmtInt(x)}`;
      return `step ${fmtInt(x)}`;
    }

    draw() {
      const w = this.box.clientWidth, hgt = this.box.clientHeight;
      const vis = this.visible();
      const total = vis.reduce((n, s) => n + s.points.length, 0);
      this.figure.dataset.points = String(total);
      this.figure.dataset.series = String(vis.length);
      this.empty.hidden = total > 0;
      this.updateLabel(vis);
      if (!w || !hgt) return;
      const dpr = window.devicePixelRatio || 1;
      if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(hgt * dpr)) {
        this.canvas.width = Math.round(w * dpr);
        this.canvas.height = Math.round(hgt * dpr);
      }
      const ctx = this.canvas.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, hgt);
      if (!total) { this.tip.hidden = true; this.layout = null; return; }

      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (const s of vis) {
        for (const p of s.points) {
          if (p[0] < x0) x0 = p[0]; if (p[0] > x1) x1 = p[0];
          if (p[1] < y0) y0 = p[1]; if (p[1] > y1) y1 = p[1];
        }
      }
      if (x0 === x1) { x0 -= 1; x1 += 1; }
      if (y0 === y1) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; }
      const pad = (y1 - y0) * 0.06;
      y0 -= pad; y1 += pad;

      const font = '12px system-ui, -apple-system, "Segoe UI", sans-serif';
      ctx.font = font;
      const yt = ticks(y0, y1, Math.max(2, Math.floor(hgt / 55)), false);
      const yLabels = yt.map((v) => this.yFormat(v));
      const left = Math.ceil(Math.max(...yLabels.map((t) => ctx.measureText(t).width), 20)) + 14;
      const m = { l: left, r: 14, t: 10, b: 28 };
      const pw = Math.max(10, w - m.l - m.r), ph = Math.max(10, hgt - m.t - m.b);
      const X = (x) => m.l + ((x - x0) / (x1 - x0)) * pw;
      const Y = (y) => m.t + (1 - (y - y0) / (y1 - y0)) * ph;
      this.layout = { m, pw, ph, x0, x1, y0, y1, X, Y };

      const grid = cssVar('--chart-grid'), axis = cssVar('--chart-axis'), text = cssVar('--chart-text');
      ctx.lineWidth = 1;
      ctx.strokeStyle = grid;
      ctx.fillStyle = text;
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      yt.forEach((v, i) => {
        const py = Math.round(Y(v)) + 0.5;
        ctx.beginPath(); ctx.moveTo(m.l, py); ctx.lineTo(m.l + pw, py); ctx.stroke();
        ctx.fillText(yLabels[i], m.l - 6, py);
      });
      const integerX = this.xKind !== 'wall';
      const xt = ticks(x0, x1, Math.max(2, Math.floor(pw / 90)), integerX);
      ctx.textAlign = 'center'; ctx.textBaseline = 'top';
      for (const v of xt) {
        const px = Math.round(X(v)) + 0.5;
        ctx.beginPath(); ctx.moveTo(px, m.t); ctx.lineTo(px, m.t + ph); ctx.stroke();
        ctx.fillText(this.xKind === 'wall' ? fmtDuration(v) : fmtInt(v), px, m.t + ph + 6);
      }
      ctx.strokeStyle = axis;
      ctx.beginPath(); ctx.moveTo(m.l + 0.5, m.t); ctx.lineTo(m.l + 0.5, m.t + ph + 0.5); ctx.lineTo(m.l + pw, m.t + ph + 0.5); ctx.stroke();

      ctx.save();
      ctx.beginPath(); ctx.rect(m.l - 4, m.t - 4, pw + 8, ph + 8); ctx.clip();
      for (const s of vis) {
        ctx.strokeStyle = s.color; ctx.fillStyle = s.color;
        ctx.setLineDash(s.dash || []);
        // Raw points: always drawn; faint when a smoothed line is drawn over them.
        ctx.globalAlpha = s.smoothed ? 0.4 : 1;
        ctx.lineWidth = 1.5;
        ctx.beginPath(); trace(ctx, s.points, X, Y, pw); ctx.stroke();
        if (s.markers || s.points.length * 8 < pw) {
          for (const p of s.points) { ctx.beginPath(); ctx.arc(X(p[0]), Y(p[1]), 2.6, 0, Math.PI * 2); ctx.fill(); }
        }
        if (s.smoothed) {
          ctx.globalAlpha = 1; ctx.lineWidth = 2.2;
          ctx.beginPath(); trace(ctx, s.smoothed, X, Y, pw); ctx.stroke();
        }
        ctx.setLineDash([]);
      }
      ctx.restore();
      ctx.globalAlpha = 1;
      this.drawHover(ctx, vis);
    }

    drawHover(ctx, vis) {
      const L = this.layout;
      if (this.hoverX == null || !L) { this.tip.hidden = true; return; }
      const px = L.X(this.hoverX);
      ctx.strokeStyle = cssVar('--chart-axis'); ctx.lineWidth = 1; ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(Math.round(px) + 0.5, L.m.t); ctx.lineTo(Math.round(px) + 0.5, L.m.t + L.ph); ctx.stroke();
      ctx.setLineDash([]);
      const rows = [];
      let xShown = this.hoverX;
      for (const s of vis) {
        const i = nearest(s.points, this.hoverX);
        if (i < 0) continue;
        const p = s.points[i];
        // Sparse series (validation at epoch ends) only answer near one of their points.
        if (Math.abs(L.X(p[0]) - px) > Math.max(24, L.pw / (s.points.length * 2))) continue;
        if (rows.length === 0) xShown = p[0];
        ctx.fillStyle = s.color;
        ctx.beginPath(); ctx.arc(L.X(p[0]), L.Y(p[1]), 4, 0, Math.PI * 2); ctx.fill();
        const sm = s.smoothed ? s.smoothed[i][1] : null;
        rows.push({ s, raw: p[1], sm });
      }
      if (!rows.length) { this.tip.hidden = true; return; }
      const header = h('div', { class: 'tip-x', text: this.formatX(xShown) });
      this.tip.replaceChildren(header, ...rows.map((r) => h('div', { class: 'tip-row' },
        h('span', { class: 'swatch', style: `background:${r.s.color}` }),
        `${r.s.label}: ${this.yFormat(r.raw)}`, r.sm != null ? ` (smoothed ${this.yFormat(r.sm)})` : '')));
      this.tip.hidden = false;
      const bw = this.box.clientWidth, tw = this.tip.offsetWidth;
      this.tip.style.left = `${Math.max(4, px + 12 + tw > bw ? px - tw - 12 : px + 12)}px`;
      this.tip.style.top = `${L.m.t + 4}px`;
      if (this.keyIndex != null) {
        this.live.textContent = `${this.formatX(xShown)}: ${rows.map((r) => `${r.s.label} ${this.yFormat(r.raw)}`).join(', ')}`;
      }
    }

    updateLabel(vis) {
      if (!vis.length) { this.canvas.setAttribute('aria-label', `${this.title}: no data yet`); return; }
      const parts = vis.map((s) => `${s.label} last ${this.yFormat(s.points[s.points.length - 1][1])} (${s.points.length} points)`);
      this.canvas.setAttribute('aria-label', `${this.title} chart. ${parts.join('; ')}. Use the arrow keys to read values.`);
    }

    pointer(e) {
      const L = this.layout;
      if (!L) return;
      const r = this.canvas.getBoundingClientRect();
      const px = e.clientX - r.left;
      if (px < L.m.l - 8 || px > L.m.l + L.pw + 8) { this.hoverX = null; this.requestDraw(); return; }
      this.keyIndex = null;
      this.hoverX = L.x0 + ((px - L.m.l) / L.pw) * (L.x1 - L.x0);
      this.requestDraw();
    }

    key(e) {
      const vis = this.visible();
      if (!vis.length) return;
      const primary = vis.reduce((a, b) => (b.points.length > a.points.length ? b : a));
      const n = primary.points.length;
      let i = this.keyIndex ?? (this.hoverX != null ? nearest(primary.points, this.hoverX) : n - 1);
      switch (e.key) {
        case 'ArrowRight': i = Math.min(n - 1, i + 1); break;
        case 'ArrowLeft': i = Math.max(0, i - 1); break;
        case 'PageUp': i = Math.min(n - 1, i + Math.ceil(n / 10)); break;
        case 'PageDown': i = Math.max(0, i - Math.ceil(n / 10)); break;
        case 'Home': i = 0; break;
        case 'End': i = n - 1; break;
        case 'Escape': this.keyIndex = null; this.hoverX = null; this.requestDraw(); return;
        default: return;
      }
      e.preventDefault();
      this.keyIndex = i;
      this.hoverX = primary.points[i][0];
      this.requestDraw();
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Shared state
  const jobs = new Map();          // id → Job
  let jobOrder = [];               // ids, newest first
  let nextCursor = null;
  const epochCache = new Map();    // id → epoch rows (kept for finished jobs, updated live for running ones)
  const streams = new Map();       // id → EventSource
  const pollingJobs = new Set();   // jobs whose stream failed: polled instead
  const compareIds = new Set((storage('sequent.compare') || '').split(',').filter(Boolean));
  let models = [];
  let recipes = [];
  let currentView = 'jobs';
  const MAX_STREAMS = 3;

  // ---------------------------------------------------------------------------------------------------------
  // Routing: #/jobs, #/jobs/{id}, #/compare?ids=a,b, #/predict?model=m, #/data
  const VIEWS = ['jobs', 'compare', 'predict', 'data'];
  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [path, query = ''] = raw.split('?');
    const parts = path.split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
    return { view: VIEWS.includes(parts[0]) ? parts[0] : 'jobs', id: parts[1] || null, query: new URLSearchParams(query) };
  }

  let firstRoute = true;
  let focusAfterRoute = null;
  function route() {
    const r = parseHash();
    currentView = r.view;
    for (const section of document.querySelectorAll('.view')) section.hidden = section.dataset.view !== r.view;
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === r.view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    const titles = { jobs: 'Jobs', compare: 'Compare', predict: 'Predict', data: 'Data' };
    document.title = `${titles[r.view]} · Sequent`;
    if (r.view === 'jobs') enterJobs(r.id);
    else if (r.view === 'compare') enterCompare(r.query);
    else if (r.view === 'predict') enterPredict(r.query);
    else if (r.view === 'data') enterData();
    if (focusAfterRoute) { focusAfterRoute.focus(); focusAfterRoute = null; }
    else if (!firstRoute) {
      const target = r.view === 'jobs' && r.id ? $('#job-title') : $(`#view-${r.view} h1`);
      if (target) target.focus({ preventScroll: false });
    }
    firstRoute = false;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Jobs list
  function progressOf(job) {
    const p = job.progress || {};
    if (job.state === 'succeeded') return 1;
    if (!isNum(p.epochs) || p.epochs <= 0) return 0;
    const inEpoch = isNum(p.steps) && p.steps > 0 ? (p.step || 0) / p.steps : 0;
    return Math.min(1, Math.max(0, ((p.epoch || 1) - 1 + inEpoch) / p.epochs));
  }

  function bestOf(rows) {
    let best = null;
    for (const key of ['val_accuracy', 'accuracy']) {
      for (const r of rows || []) if (isNum(r[key]) && (!best || r[key] > best.value)) best = { key, value: r[key], epoch: r.epoch };
      if (best) return best;
    }
    return null;
  }

  function upsertJob(job) {
    const old = jobs.get(job.id);
    // Answers can arrive out of order (a cancel's 202 after the stream's final event): a finished job stays finished.
    if (old && FINISHED.has(old.state) && !FINISHED.has(job.state)) return old;
    jobs.set(job.id, old ? { ...old, ...job } : job);
    if (!jobOrder.includes(job.id)) {
      // Newest first by creation time.
      const t = Date.parse(job.created_at) || Date.now();
      const i = jobOrder.findIndex((id) => (Date.parse(jobs.get(id).created_at) || 0) < t);
      if (i < 0) jobOrder.push(job.id); else jobOrder.splice(i, 0, job.id);
    }
    return jobs.get(job.id);
  }

  async function loadJobs(more = false) {
    const path = more && nextCursor ? `/v1/jobs?limit=50&cursor=${encodeURIComponent(nextCursor)}` : '/v1/jobs?limit=50';
    const data = await api('GET', path);
    for (const job of data.jobs) {
      const before = jobs.get(job.id);
      upsertJob(job);
      if (before && before.state !== job.state) onStateChange(jobs.get(job.id), before.state);
    }
    if (more || !nextCursor) nextCursor = data.next_cursor;
    renderJobList();
    ensureStreams();
    loadBestValues();
  }

  const listItems = new Map();
  function renderJobList() {
    const list = $('#job-list');
    $('#jobs-empty').hidden = jobOrder.length > 0;
    $('#jobs-more').hidden = !nextCursor;
    let prev = null;
    for (const id of jobOrder) {
      let li = listItems.get(id);
      if (!li) { li = createJobItem(id); listItems.set(id, li); }
      const want = prev ? prev.nextSibling : list.firstChild;
      if (li !== want) list.insertBefore(li, want);
      updateJobItem(li, jobs.get(id));
      prev = li;
    }
    renderComparePicker();
  }

  function createJobItem(id) {
    const li = h('li', { class: 'job-item', dataset: { id } });
    li.innerHTML = `
      <div class="job-line"><a class="job-name" href="#/jobs/${encodeURIComponent(id)}"></a><span class="badge"></span></div>
      <progress max="1" value="0"></progress>
      <div class="job-stats"><span class="s-epoch"></span><span class="s-rate"></span><span class="s-eta"></span><span class="s-best"></span></div>
      <div class="job-line"><span class="job-meta"></span><button type="button" class="small danger job-cancel">Cancel</button></div>`;
    li.querySelector('.job-cancel').addEventListener('click', () => cancelJob(id));
    return li;
  }

  function updateJobItem(li, job) {
    const name = li.querySelector('.job-name');
    name.textContent = job.name || job.id;
    const selected = currentView === 'jobs' && detail.id === job.id;
    li.dataset.selected = String(selected);
    if (selected) name.setAttribute('aria-current', 'true'); else name.removeAttribute('aria-current');
    const badge = li.querySelector('.badge');
    badge.textContent = job.state;
    badge.dataset.state = job.state;
    const bar = li.querySelector('progress');
    bar.value = progressOf(job);
    bar.setAttribute('aria-label', `${job.name}: ${Math.round(progressOf(job) * 100)}% done`);
    const p = job.progress || {};
    li.querySelector('.s-epoch').textContent = isNum(p.epochs) ? `epoch ${p.epoch}/${p.epochs}` : (job.state === 'queued' ? 'waiting for a worker' : '');
    li.querySelector('.s-rate').textContent = job.state === 'running' && isNum(p.samples_per_second) ? `${fmtInt(p.samples_per_second)} samples/s` : '';
    li.querySelector('.s-eta').textContent = job.state === 'running' && isNum(p.eta_seconds) ? `ETA ${fmtDuration(p.eta_seconds)}` : '';
    const best = bestOf(epochCache.get(job.id));
    const bestEl = li.querySelector('.s-best');
    bestEl.replaceChildren();
    if (best) bestEl.append(`best ${best.key} `, h('strong', { text: fmtNum(best.value) }));
    const meta = li.querySelector('.job-meta');
    meta.textContent = `${job.id} · ${fmtAgo(job.created_at)}`;
    meta.title = `created ${fmtDate(job.created_at)}`;
    const cancel = li.querySelector('.job-cancel');
    cancel.hidden = !(job.state === 'queued' || job.state === 'running');
    cancel.setAttribute('aria-label', `Cancel job ${job.name} (${job.id})`);
  }

  function refreshJobItem(id) {
    const li = listItems.get(id), job = jobs.get(id);
    if (li && job) updateJobItem(li, job);
  }

  let bestLoading = false;
  async function loadBestValues() {
    if (bestLoading) return;
    bestLoading = true;
    try {
      const want = jobOrder.filter((id) => {
        const job = jobs.get(id), rows = epochCache.get(id);
        return (job.checkpoint_epoch || 0) > 0 && (!rows || rows.length < job.checkpoint_epoch) && !streams.has(id);
      }).slice(0, 60);
      const worker = async () => {
        while (want.length) {
          const id = want.shift();
          try { epochCache.set(id, (await api('GET', `/v1/jobs/${encodeURIComponent(id)}/epochs`)).epochs); refreshJobItem(id); } catch { /* shown elsewhere */ }
        }
      };
      await Promise.all([worker(), worker(), worker()]);
    } finally { bestLoading = false; }
  }

  async function cancelJob(id) {
    const job = jobs.get(id);
    try {
      const updated = await api('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
      onJobUpdate(updated);
      announce(`Cancelling job ${updated.name}`);
    } catch (err) {
      notify(err.status === 409 ? `${job ? job.name : id} has already finished.` : `Cannot cancel: ${err.message}`, 'error');
      refreshJob(id);
    }
  }

  /** A newer Job object arrived (event, poll or action). */
  function onJobUpdate(job) {
    const before = jobs.get(job.id);
    const merged = upsertJob(job);
    if (before && before.state !== job.state) onStateChange(merged, before.state);
    renderJobList();
    if (detail.id === job.id) { detail.job = merged; renderDetailHead(); }
    ensureStreams();
  }

  function onStateChange(job, oldState) {
    if (oldState === job.state) return;
    if (FINISHED.has(job.state)) {
      announce(`Job ${job.name} ${job.state}${job.error ? `: ${job.error}` : ''}`);
      // The final numbers: epochs, step metrics, and the model.
      api('GET', `/v1/jobs/${encodeURIComponent(job.id)}/epochs`).then((d) => {
        epochCache.set(job.id, d.epochs); refreshJobItem(job.id);
        if (detail.id === job.id) { detail.epochs = d.epochs; renderEpochs(); updateCharts(); }
      }).catch(() => {});
      if (detail.id === job.id) { refreshMetrics(true); if (job.model_id) loadDetailModel(job.model_id); }
      // The stream's final event carries the last epoch's metrics; the stored job also has the test metrics.
      setTimeout(() => refreshJob(job.id), 500);
      if (job.model_id) loadModels(true);
    } else if (job.state === 'running' && oldState === 'queued') {
      announce(`Job ${job.name} started`);
    }
  }

  // Live updates: an EventSource per active job (a few at most: browsers allow six connections per server),
  // polling for the rest and whenever a stream fails.
  function ensureStreams() {
    if (typeof EventSource !== 'function') {
      for (const id of jobOrder) if (ACTIVE.has(jobs.get(id).state)) pollingJobs.add(id);
    }
    const active = jobOrder.filter((id) => ACTIVE.has(jobs.get(id).state) && !pollingJobs.has(id));
    active.sort((a, b) => (b === detail.id) - (a === detail.id) || (jobs.get(b).state === 'running') - (jobs.get(a).state === 'running'));
    const want = new Set(active.slice(0, MAX_STREAMS));
    for (const [id, es] of streams) if (!want.has(id)) { es.close(); streams.delete(id); }
    for (const id of want) if (!streams.has(id)) openStream(id);
    const anyActive = jobOrder.some((id) => ACTIVE.has(jobs.get(id).state));
    if (connMode !== 'offline') setConnection(streams.size || !anyActive ? 'live' : 'polling');
    schedulePoll();
  }

  function openStream(id) {
    const es = new EventSource(`/v1/jobs/${encodeURIComponent(id)}/events`);
    let failures = 0;
    streams.set(id, es);
    es.addEventListener('open', () => { failures = 0; });
    es.addEventListener('state', (e) => {
      const job = JSON.parse(e.data);
      onJobUpdate(job);
      if (FINISHED.has(job.state)) { es.close(); streams.delete(id); ensureStreams(); }
    });
    es.addEventListener('progress', (e) => {
      const p = JSON.parse(e.data);
      const job = jobs.get(id);
      if (!job) return;
      const { metrics, job_id: _ignored, ...progress } = p;
      job.progress = progress;
      if (job.state === 'queued') job.state = 'running';
      job.live_metrics = metrics;
      refreshJobItem(id);
      if (detail.id === id) { renderDetailProgress(); refreshMetrics(false); }
    });
    es.addEventListener('epoch', (e) => {
      const row = JSON.parse(e.data);
      const rows = (epochCache.get(id) || []).filter((r) => r.epoch !== row.epoch);
      rows.push(row);
      rows.sort((a, b) => a.epoch - b.epoch);
      epochCache.set(id, rows);
      const job = jobs.get(id);
      if (job) job.checkpoint_epoch = Math.max(job.checkpoint_epoch || 0, row.epoch);
      refreshJobItem(id);
      if (detail.id === id) { detail.epochs = rows; renderEpochs(); updateCharts(); refreshMetrics(true); }
      if (currentView === 'compare' && compareIds.has(id)) loadCompare();
    });
    es.addEventListener('error', () => {
      failures += 1;
      if (es.readyState === EventSource.CLOSED || failures >= 3) {
        es.close();
        streams.delete(id);
        pollingJobs.add(id);
        ensureStreams();
      }
    });
  }

  let pollTimer = null;
  function schedulePoll() {
    clearTimeout(pollTimer);
    const anyActive = jobOrder.some((id) => ACTIVE.has(jobs.get(id).state));
    const fallback = [...pollingJobs].some((id) => jobs.has(id) && ACTIVE.has(jobs.get(id).state));
    const delay = document.hidden ? 30000 : fallback ? 2000 : anyActive ? 5000 : 15000;
    pollTimer = setTimeout(poll, delay);
  }

  async function poll() {
    try {
      await loadJobs();
      for (const id of pollingJobs) {
        const job = jobs.get(id);
        if (!job || !ACTIVE.has(job.state)) { pollingJobs.delete(id); continue; }
        if (detail.id === id) { refreshMetrics(true); refreshDetailEpochs(); }
      }
    } catch { /* connection status shows it */ }
    schedulePoll();
  }

  async function refreshJob(id) {
    try { onJobUpdate(await api('GET', `/v1/jobs/${encodeURIComponent(id)}`)); } catch { /* ignore */ }
  }

  // ---------------------------------------------------------------------------------------------------------
  // New job form
  const editor = () => $('#spec-editor');

  function openForm(text, label) {
    const form = $('#new-job');
    form.hidden = false;
    $('#new-job-toggle').setAttribute('aria-expanded', 'true');
    if (text != null) {
      editor().value = text;
      if (label) {
        const sel = $('#recipe-select');
        let opt = sel.querySelector('option[value="__job"]');
        if (!opt) { opt = h('option', { value: '__job' }); sel.prepend(opt); }
        opt.textContent = label;
        sel.value = '__job';
      }
      syncQuick();
    }
    clearSpecError();
    if (!editor().value && recipes.length) applyRecipe(recipes[0].name);
    // On a narrow screen the form is hidden while a job is shown: go back to the list.
    if (currentView !== 'jobs' || (detail.id && window.matchMedia('(max-width: 900px)').matches)) {
      focusAfterRoute = $('#recipe-select');
      location.hash = '#/jobs';
    } else {
      $('#recipe-select').focus();
    }
  }

  function closeForm() {
    $('#new-job').hidden = true;
    $('#new-job-toggle').setAttribute('aria-expanded', 'false');
    $('#new-job-toggle').focus();
  }

  async function loadRecipes() {
    try { recipes = (await api('GET', '/v1/recipes')).recipes || []; } catch { recipes = []; }
    const sel = $('#recipe-select');
    sel.replaceChildren(...recipes.map((r) => h('option', { value: r.name, text: r.name })),
      h('option', { value: '__blank', text: 'empty spec' }));
    if (!editor().value) applyRecipe(recipes.length ? recipes[0].name : '__blank');
  }

  function applyRecipe(name) {
    const recipe = recipes.find((r) => r.name === name);
    const spec = recipe ? recipe.spec : {
      name: 'my-model', dataset: { name: 'fashion_mnist', validation: 'test' },
      model: { input_shape: [28, 28, 1], layers: [{ type: 'Flatten' }, { type: 'Dense', units: 128, activation: 'relu' }, { type: 'Dense', units: 10, activation: 'softmax' }] },
      compile: { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] },
      fit: { epochs: 5, batch_size: 32 },
    };
    $('#recipe-select').value = recipe ? name : '__blank';
    editor().value = specText(spec);
    clearSpecError();
    syncQuick();
  }

  /** Spec keys in reading order (the server returns them sorted): name, dataset, model, compile, fit, … */
  const KEY_ORDER = ['name', 'type', 'class_name', 'dataset', 'model', 'input_shape', 'layers', 'units', 'filters', 'kernel_size',
    'pool_size', 'activation', 'compile', 'optimizer', 'loss', 'metrics', 'fit', 'epochs', 'batch_size', 'callbacks'];
  function ordered(value) {
    if (Array.isArray(value)) return value.map(ordered);
    if (!value || typeof value !== 'object') return value;
    const rank = (k) => { const i = KEY_ORDER.indexOf(k); return i < 0 ? KEY_ORDER.length : i; };
    const out = {};
    for (const k of Object.keys(value).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))) out[k] = ordered(value[k]);
    return out;
  }
  /** JSON as the recipes in config/jobs are written: small objects and arrays of numbers on one line. */
  function oneLine(v) {
    if (Array.isArray(v)) return `[${v.map(oneLine).join(', ')}]`;
    if (v && typeof v === 'object') return `{${Object.keys(v).map((k) => `${JSON.stringify(k)}: ${oneLine(v[k])}`).join(', ')}}`;
    return JSON.stringify(v);
  }
  function pretty(v, indent = '') {
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    const flat = oneLine(v);
    const simple = Array.isArray(v) ? v.every((x) => x === null || typeof x !== 'object')
      : Object.values(v).every((x) => x === null || typeof x !== 'object' || (Array.isArray(x) && x.every((y) => typeof y !== 'object')));
    if (simple && indent.length + flat.length <= 100) return flat;
    const inner = `${indent}  `;
    if (Array.isArray(v)) return v.length ? `[\n${v.map((x) => inner + pretty(x, inner)).join(',\n')}\n${indent}]` : '[]';
    const keys = Object.keys(v);
    return keys.length ? `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${pretty(v[k], inner)}`).join(',\n')}\n${indent}}` : '{}';
  }
  const specText = (spec) => pretty(ordered(spec));

  function parseEditor() {
    try { return JSON.parse(editor().value); } catch { return null; }
  }

  function syncQuick() {
    const spec = parseEditor();
    if (!spec || typeof spec !== 'object') return;
    const fit = spec.fit || {}, ds = spec.dataset || {};
    $('#quick-epochs').value = isNum(fit.epochs) ? fit.epochs : '';
    $('#quick-train-limit').value = isNum(ds.train_limit) ? ds.train_limit : '';
    $('#quick-test-limit').value = isNum(ds.test_limit) ? ds.test_limit : '';
  }

  function quickEdit(path, input) {
    const spec = parseEditor();
    if (!spec || typeof spec !== 'object') {
      showSpecError({ message: 'Fix the JSON first: it does not parse, so the quick edit cannot be written into it.' });
      return;
    }
    const [section, key] = path;
    const value = input.value.trim() === '' ? null : Number(input.value);
    spec[section] = spec[section] && typeof spec[section] === 'object' ? spec[section] : {};
    if (value == null || !Number.isFinite(value)) delete spec[section][key]; else spec[section][key] = value;
    editor().value = specText(spec);
    clearSpecError();
  }

  function clearSpecError() {
    $('#spec-error').hidden = true;
    $('#spec-error').replaceChildren();
    editor().removeAttribute('aria-invalid');
  }

  /** Shows an error under the editor; with a field path (or a parse position) it selects that spot in the JSON. */
  function showSpecError({ message, field, position, status }) {
    const box = $('#spec-error');
    const text = editor().value;
    let range = null;
    if (field) range = locateJsonPath(text, field);
    if (!range && isNum(position)) range = [position, Math.min(text.length, position + 1)];
    const parts = [];
    if (status) parts.push(h('span', { text: `${status} · ` }));
    if (field && message.startsWith(field)) parts.push(h('code', { text: field }), message.slice(field.length));
    else if (field) parts.push('Field ', h('code', { text: field }), ': ', message);
    else parts.push(message);
    if (range) {
      const line = text.slice(0, range[0]).split('\n').length;
      parts.push(h('span', { class: 'hint', text: ` (line ${line})` }));
    }
    box.replaceChildren(...parts);
    box.hidden = false;
    editor().setAttribute('aria-invalid', 'true');
    if (range) {
      const ta = editor();
      ta.focus({ preventScroll: true });
      ta.setSelectionRange(range[0], range[1]);
      const line = text.slice(0, range[0]).split('\n').length;
      const lh = parseFloat(getComputedStyle(ta).lineHeight) || 18;
      ta.scrollTop = Math.max(0, (line - 3) * lh);
      box.scrollIntoView({ block: 'nearest' });
    }
  }

  /** [start, end] of the value at a path like `model.layers[2].units` in JSON text, or of its deepest
   *  existing parent when the field itself is missing. */
  function locateJsonPath(text, path) {
    const want = [];
    for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) want.push(m[2] != null ? Number(m[2]) : m[1]);
    let i = 0, best = null, bestDepth = -1;
    const ws = () => { while (i < text.length && /\s/.test(text[i])) i++; };
    const matches = (p) => p.length <= want.length && p.every((k, j) => k === want[j]);
    function value(p) {
      ws();
      const start = i;
      const c = text[i];
      if (c === '{') {
        i++; ws();
        if (text[i] === '}') { i++; }
        else {
          for (;;) {
            ws();
            const key = str();
            ws(); if (text[i] !== ':') throw new Error('bad'); i++;
            value(p.concat([key]));
            ws();
            if (text[i] === ',') { i++; continue; }
            if (text[i] === '}') { i++; break; }
            throw new Error('bad');
          }
        }
      } else if (c === '[') {
        i++; ws();
        if (text[i] === ']') { i++; }
        else {
          for (let k = 0; ; k++) {
            value(p.concat([k]));
            ws();
            if (text[i] === ',') { i++; continue; }
            if (text[i] === ']') { i++; break; }
            throw new Error('bad');
          }
        }
      } else if (c === '"') { str(); }
      else { while (i < text.length && /[^\s,\]}]/.test(text[i])) i++; }
      if (matches(p) && p.length > bestDepth) { best = [start, i]; bestDepth = p.length; }
    }
    function str() {
      if (text[i] !== '"') throw new Error('bad');
      const start = i;
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      return JSON.parse(text.slice(start, i));
    }
    try { value([]); } catch { return null; }
    return bestDepth > 0 ? best : null;
  }

  async function submitJob(e) {
    e.preventDefault();
    clearSpecError();
    const text = editor().value;
    try {
      JSON.parse(text);
    } catch (err) {
      const m = /position (\d+)/.exec(err.message);
      showSpecError({ message: `The JSON does not parse: ${err.message}`, position: m ? Number(m[1]) : undefined });
      return;
    }
    const button = $('#submit-job');
    button.disabled = true;
    button.textContent = 'Submitting…';
    try {
      const job = await api('POST', '/v1/jobs', { body: text, headers: { 'Content-Type': 'application/json' } });
      onJobUpdate(job);
      announce(`Job ${job.name} queued`);
      $('#new-job').hidden = true;
      $('#new-job-toggle').setAttribute('aria-expanded', 'false');
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (err) {
      const hint = { 401: 'a token is needed (see the bar at the top)', 422: 'the model is too large for this server', 429: 'the queue is full; try again later' }[err.status];
      showSpecError({ message: hint ? `${err.message} — ${hint}` : err.message, field: err.field, status: err.status || undefined });
    } finally {
      button.disabled = false;
      button.textContent = 'Start training';
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // One job
  const detail = { id: null, job: null, epochs: [], series: {}, model: null, xMode: 'step', smoothing: 0, lastMetrics: 0, metricsBusy: false, metricsQueued: false };
  let lossChart, accChart;

  async function enterJobs(id) {
    $('.jobs-layout').dataset.selected = String(Boolean(id));
    if (!id) {
      detail.id = null;
      $('#job-view').hidden = true;
      $('#job-placeholder').hidden = false;
      renderJobList();
      return;
    }
    if (detail.id !== id) {
      Object.assign(detail, { id, job: jobs.get(id) || null, epochs: epochCache.get(id) || [], series: {}, model: null, lastMetrics: 0 });
      $('#job-placeholder').hidden = true;
      $('#job-view').hidden = false;
      $('#model-summary').replaceChildren();
      if (detail.job) renderDetail(); else $('#job-title').textContent = id;
    }
    renderJobList();
    try {
      const [job, ep] = await Promise.all([
        api('GET', `/v1/jobs/${encodeURIComponent(id)}`),
        api('GET', `/v1/jobs/${encodeURIComponent(id)}/epochs`),
      ]);
      if (detail.id !== id) return;
      epochCache.set(id, ep.epochs);
      detail.epochs = ep.epochs;
      onJobUpdate(job);
      detail.job = jobs.get(id);
      renderDetail();
      await refreshMetrics(true);
      if (job.model_id) loadDetailModel(job.model_id);
    } catch (err) {
      if (detail.id !== id) return;
      $('#job-title').textContent = err.status === 404 ? `No job ${id}` : id;
      $('#job-state').hidden = true;
      const problem = $('#job-problem');
      problem.hidden = false;
      problem.textContent = err.status === 404 ? 'This job does not exist (it may belong to another server).' : `Cannot load the job: ${err.message}`;
    }
  }

  function renderDetail() {
    renderDetailHead();
    renderEpochs();
    updateCharts();
    $('#job-spec').textContent = specText(detail.job.spec);
  }

  function renderDetailHead() {
    const job = detail.job;
    if (!job) return;
    $('#job-title').textContent = job.name;
    const badge = $('#job-state');
    badge.hidden = false;
    badge.textContent = job.state;
    badge.dataset.state = job.state;
    $('#job-view').dataset.state = job.state;
    document.title = `${job.name} · Jobs · Sequent`;
    const spec = job.spec || {};
    const facts = [
      ['Job id', job.id], ['Created', fmtDate(job.created_at)], ['Started', fmtDate(job.started_at)],
      ['Finished', fmtDate(job.finished_at)],
      ['Duration', job.started_at ? fmtDuration(((Date.parse(job.finished_at) || Date.now()) - Date.parse(job.started_at)) / 1000) : '—'],
      ['Optimizer', `${optimizerOf(spec).name} (lr ${fmtNum(optimizerOf(spec).lr, 6)})`],
      ['Batch size', spec.fit && spec.fit.batch_size], ['Model', job.model_id || '—'],
    ];
    const m = job.metrics || {};
    for (const key of ['test_accuracy', 'test_loss']) if (isNum(m[key])) facts.push([key.replace('_', ' '), fmtNum(m[key])]);
    $('#job-facts').replaceChildren(...facts.map(([k, v]) => h('div', {}, h('dt', { text: k }), h('dd', { text: v == null ? '—' : String(v) }))));
    renderDetailProgress();
    const problem = $('#job-problem');
    if (job.error) { problem.hidden = false; problem.dataset.kind = 'error'; problem.textContent = `Error: ${job.error}`; }
    else if (job.stop_reason) { problem.hidden = false; problem.dataset.kind = 'info'; problem.textContent = `Stopped: ${job.stop_reason}`; }
    else if (job.state === 'cancelled') { problem.hidden = false; problem.dataset.kind = 'info'; problem.textContent = 'Cancelled before the last epoch.'; }
    else problem.hidden = true;
    $('#job-cancel').hidden = !(job.state === 'queued' || job.state === 'running');
    const predict = $('#job-predict');
    predict.hidden = !job.model_id;
    if (job.model_id) predict.href = `#/predict?model=${encodeURIComponent(job.model_id)}`;
    const cmp = $('#job-compare');
    cmp.setAttribute('aria-pressed', String(compareIds.has(job.id)));
    cmp.textContent = compareIds.has(job.id) ? 'In comparison ✓' : 'Add to comparison';
  }

  function renderDetailProgress() {
    const job = detail.job;
    if (!job) return;
    const p = job.progress || {};
    const bar = $('#job-progress');
    bar.value = progressOf(job);
    const parts = [];
    if (isNum(p.epochs)) parts.push(`epoch ${p.epoch}/${p.epochs}`);
    if (isNum(p.steps) && job.state === 'running') parts.push(`step ${fmtInt(p.step)}/${fmtInt(p.steps)}`);
    if (isNum(p.samples_per_second) && job.state === 'running') parts.push(`${fmtInt(p.samples_per_second)} samples/s`);
    if (isNum(p.eta_seconds) && job.state === 'running') parts.push(`ETA ${fmtDuration(p.eta_seconds)}`);
    if (job.state === 'queued') parts.push('queued: waiting for a worker');
    const best = bestOf(detail.epochs);
    if (best) parts.push(`best ${best.key} ${fmtNum(best.value)} (epoch ${best.epoch})`);
    $('#job-progress-text').textContent = `${Math.round(progressOf(job) * 100)}% · ${parts.join(' · ')}`;
  }

  async function refreshDetailEpochs() {
    const id = detail.id;
    try {
      const d = await api('GET', `/v1/jobs/${encodeURIComponent(id)}/epochs`);
      if (detail.id !== id) return;
      detail.epochs = d.epochs; epochCache.set(id, d.epochs); renderEpochs(); updateCharts(); refreshJobItem(id);
    } catch { /* ignore */ }
  }

  /** Step series, downsampled by the server to about one point per pixel; at most every 1.5 s while live. */
  async function refreshMetrics(force) {
    const id = detail.id;
    if (!id) return;
    if (detail.metricsBusy) { detail.metricsQueued = true; return; }
    if (!force && Date.now() - detail.lastMetrics < 1500) return;
    detail.metricsBusy = true;
    detail.lastMetrics = Date.now();
    try {
      const n = Math.max(lossChart.maxPoints, accChart.maxPoints);
      const d = await api('GET', `/v1/jobs/${encodeURIComponent(id)}/metrics?max_points=${n}`);
      if (detail.id === id) { detail.series = d.series || {}; updateCharts(); }
    } catch { /* keep the last series */ }
    finally {
      detail.metricsBusy = false;
      if (detail.metricsQueued) { detail.metricsQueued = false; setTimeout(() => refreshMetrics(false), 1500); }
    }
  }

  function metricName(rows, series) {
    const skip = new Set(['epoch', 'loss', 'learning_rate', 'duration_seconds', 'samples_per_second', 'finished_at']);
    const keys = new Set([...Object.keys(series || {}), ...(rows || []).flatMap((r) => Object.keys(r))]);
    for (const k of keys) if (!skip.has(k) && !k.startsWith('val_') && !k.endsWith('loss')) return k;
    return null;
  }

  /** [[x, y], …] of `key` for one job, by epoch, by step or by seconds since it started. */
  function pointsFor(job, rows, series, key, xMode) {
    rows = rows || [];
    if (xMode === 'epoch') return rows.filter((r) => isNum(r[key])).map((r) => [r.epoch, r[key]]);
    const s = (series || {})[key];
    const starts = [Date.parse(job && job.started_at) / 1000];
    if (s && s.length) starts.push(s[0][0]);
    const t0 = Math.min(...starts.filter(Number.isFinite));
    if (s && s.length) return s.map(([wall, step, v]) => [xMode === 'step' ? step : wall - t0, v]);
    // Epoch-level keys (validation) on a step or time axis: at each epoch's end.
    const stepsPerEpoch = job && job.progress && job.progress.steps;
    return rows.filter((r) => isNum(r[key])).map((r) => [
      xMode === 'step' ? (isNum(stepsPerEpoch) ? r.epoch * stepsPerEpoch : NaN) : Date.parse(r.finished_at) / 1000 - (Number.isFinite(t0) ? t0 : 0),
      r[key]]);
  }

  function updateCharts() {
    if (!detail.job) return;
    const metric = metricName(detail.epochs, detail.series) || 'accuracy';
    $('#chart-acc-caption').textContent = metric.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
    const train = cssVar('--s-train'), val = cssVar('--s-val');
    const build = (key) => [
      { id: key, label: key, color: train, points: pointsFor(detail.job, detail.epochs, detail.series, key, detail.xMode), markers: detail.xMode === 'epoch' },
      { id: `val_${key}`, label: `val_${key}`, color: val, dash: [6, 4], markers: true, points: pointsFor(detail.job, detail.epochs, detail.series, `val_${key}`, detail.xMode) },
    ];
    lossChart.setSeries(build('loss'), detail.xMode);
    accChart.setSeries(build(metric), detail.xMode);
  }

  function renderEpochs() {
    const rows = detail.epochs || [];
    const table = $('#epoch-table');
    $('#epochs-empty').hidden = rows.length > 0;
    table.hidden = rows.length === 0;
    if (!rows.length) { table.tHead.replaceChildren(); table.tBodies[0].replaceChildren(); return; }
    const fixed = ['epoch', 'learning_rate', 'duration_seconds', 'samples_per_second', 'finished_at'];
    const metricKeys = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => !fixed.includes(k))
      .sort((a, b) => (a.startsWith('val_') - b.startsWith('val_')) || (b.endsWith('loss') - a.endsWith('loss')) || a.localeCompare(b));
    const cols = [['epoch', 'Epoch'], ...metricKeys.map((k) => [k, k]), ['learning_rate', 'Learning rate'], ['duration_seconds', 'Duration'], ['samples_per_second', 'Samples/s']];
    table.tHead.replaceChildren(h('tr', {}, cols.map(([, label]) => h('th', { scope: 'col', text: label }))));
    const best = bestOf(rows);
    table.tBodies[0].replaceChildren(...rows.map((r) => {
      const isBest = best && r.epoch === best.epoch;
      return h('tr', { class: isBest ? 'best' : null, title: isBest ? `best ${best.key}` : null }, cols.map(([k], i) => {
        let v;
        if (k === 'epoch') v = isBest ? `${r.epoch} ★` : r.epoch;
        else if (k === 'duration_seconds') v = `${fmtNum(r[k], 2)} s`;
        else if (k === 'samples_per_second') v = fmtInt(r[k]);
        else v = fmtNum(r[k]);
        return i === 0 ? h('th', { scope: 'row', text: v }) : h('td', { text: v });
      }));
    }));
  }

  async function loadDetailModel(modelId) {
    const id = detail.id;
    try {
      const model = await api('GET', `/v1/models/${encodeURIComponent(modelId)}`);
      if (detail.id !== id) return;
      detail.model = model;
      renderModel(model);
    } catch (err) {
      $('#model-summary').replaceChildren(h('p', { class: 'empty', text: `The model cannot be loaded: ${err.message}` }));
    }
  }

  function renderModel(model) {
    const rows = model.summary || [];
    const total = isNum(model.parameter_count) ? model.parameter_count : rows.reduce((n, r) => n + (r.params || 0), 0);
    const table = h('table', { class: 'data-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Layer (type)' }), h('th', { scope: 'col', class: 'text', text: 'Output shape' }), h('th', { scope: 'col', text: 'Param #' }))),
      h('tbody', {}, rows.map((r) => h('tr', {},
        h('td', { text: `${r.name} (${r.type})` }),
        h('td', { class: 'text mono', text: `(None, ${(r.output_shape || []).join(', ')})` }),
        h('td', { text: fmtInt(r.params) })))),
      h('tfoot', {}, h('tr', {}, h('td', { text: 'Total params' }), h('td', {}), h('td', { text: fmtInt(total) }))));
    const tm = model.test_metrics || {};
    const tests = Object.keys(tm).sort().map((k) => `${k} ${fmtNum(tm[k])}`).join(' · ');
    $('#model-summary').replaceChildren(
      h('p', {}, h('strong', { text: model.id }), ` · input ${JSON.stringify(model.input_shape || [])}`, tests ? ` · test: ${tests}` : ''),
      h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Model summary' }, table),
      model.class_names ? h('p', { class: 'class-list', text: `Classes: ${model.class_names.join(', ')}` }) : null);
  }

  function optimizerOf(spec) {
    const o = (spec.compile || {}).optimizer;
    const name = (typeof o === 'string' ? o : (o && (o.type || o.class_name)) || 'rmsprop').toLowerCase();
    const lr = o && typeof o === 'object' ? (o.learning_rate ?? (o.config && o.config.learning_rate)) : undefined;
    const defaults = { adam: 0.001, rmsprop: 0.001, sgd: 0.01 };
    return { name, lr: isNum(lr) ? lr : defaults[name] };
  }

  // ---------------------------------------------------------------------------------------------------------
  // Compare
  let compareChart;
  const compareData = new Map(); // id → {epochs, series, model}
  const palette = () => [1, 2, 3, 4, 5, 6, 7, 8].map((i) => cssVar(`--c${i}`));

  function saveCompare() {
    storage('sequent.compare', [...compareIds].join(','));
    const count = $('#compare-count');
    count.hidden = compareIds.size === 0;
    count.textContent = String(compareIds.size);
    if (currentView === 'compare') history.replaceState(null, '', `#/compare${compareIds.size ? `?ids=${[...compareIds].map(encodeURIComponent).join(',')}` : ''}`);
    if (detail.job) renderDetailHead();
  }

  function renderComparePicker() {
    const list = $('#compare-jobs');
    $('#compare-nojobs').hidden = jobOrder.length > 0;
    const existing = new Map([...list.children].map((li) => [li.dataset.id, li]));
    let prev = null;
    for (const id of jobOrder) {
      const job = jobs.get(id);
      let li = existing.get(id);
      if (!li) {
        const box = h('input', { type: 'checkbox', value: id });
        box.addEventListener('change', () => {
          if (box.checked) compareIds.add(id); else compareIds.delete(id);
          saveCompare();
          loadCompare();
        });
        li = h('li', { dataset: { id } }, h('label', {}, box, h('span', { class: 'name' }), h('span', { class: 'badge' }), h('span', { class: 'job-meta' })));
      }
      li.querySelector('input').checked = compareIds.has(id);
      li.querySelector('.name').textContent = job.name;
      const badge = li.querySelector('.badge');
      badge.textContent = job.state; badge.dataset.state = job.state;
      li.querySelector('.job-meta').textContent = id;
      const want = prev ? prev.nextSibling : list.firstChild;
      if (li !== want) list.insertBefore(li, want);
      prev = li;
    }
  }

  function enterCompare(query) {
    const ids = query.get('ids');
    if (ids != null) { compareIds.clear(); for (const id of ids.split(',').filter(Boolean)) compareIds.add(id); }
    saveCompare();
    renderComparePicker();
    loadCompare();
  }

  let compareBusy = null;
  async function loadCompare() {
    const xMode = document.querySelector('input[name="compare-x"]:checked').value;
    const ids = [...compareIds];
    const run = Symbol('compare');
    compareBusy = run;
    await Promise.all(ids.map(async (id) => {
      let entry = compareData.get(id) || {};
      try {
        let job = jobs.get(id);
        if (!job) { job = upsertJob(await api('GET', `/v1/jobs/${encodeURIComponent(id)}`)); renderJobList(); }
        const finished = FINISHED.has(job.state);
        if (!entry.final || !finished) {
          entry.epochs = (await api('GET', `/v1/jobs/${encodeURIComponent(id)}/epochs`)).epochs;
          epochCache.set(id, entry.epochs);
          entry.series = null;
          entry.final = finished;
        }
        if (xMode !== 'epoch' && !entry.series) {
          entry.series = (await api('GET', `/v1/jobs/${encodeURIComponent(id)}/metrics?max_points=${compareChart.maxPoints}`)).series;
        }
        if (job.model_id && !entry.model) entry.model = await api('GET', `/v1/models/${encodeURIComponent(job.model_id)}`);
      } catch (err) {
        entry = { ...entry, error: err.message };
        if (err.status === 404) { compareIds.delete(id); saveCompare(); }
      }
      compareData.set(id, entry);
    }));
    if (compareBusy === run) renderCompare();
  }

  function renderCompare() {
    const xMode = document.querySelector('input[name="compare-x"]:checked').value;
    const ids = [...compareIds].filter((id) => jobs.has(id));
    const colors = palette();
    // Metric choices: what the selected jobs recorded.
    const keys = new Set();
    for (const id of ids) for (const r of (compareData.get(id) || {}).epochs || []) for (const k of Object.keys(r)) keys.add(k);
    const skip = new Set(['epoch', 'learning_rate', 'duration_seconds', 'samples_per_second', 'finished_at']);
    const metricKeys = [...keys].filter((k) => !skip.has(k)).sort((a, b) => (a.startsWith('val_') - b.startsWith('val_')) || a.localeCompare(b));
    const sel = $('#compare-metric');
    const current = sel.value || 'val_accuracy';
    const options = metricKeys.length ? metricKeys : ['loss', 'accuracy', 'val_loss', 'val_accuracy'];
    if ([...sel.options].map((o) => o.value).join() !== options.join()) {
      sel.replaceChildren(...options.map((k) => h('option', { value: k, text: k })));
    }
    sel.value = options.includes(current) ? current : options.includes('val_accuracy') ? 'val_accuracy' : options[0];
    const metric = sel.value;
    $('#compare-caption').textContent = ids.length ? `${metric} by ${xMode === 'wall' ? 'time since start' : xMode}` : 'Pick jobs to compare';
    compareChart.setSeries(ids.map((id, i) => {
      const d = compareData.get(id) || {};
      const job = jobs.get(id);
      return { id, label: `${job.name} (${id.slice(0, 8)})`, color: colors[i % colors.length], markers: xMode === 'epoch',
               points: pointsFor(job, d.epochs, d.series, metric, xMode) };
    }), xMode);

    // Hyper-parameters and final metrics.
    const table = $('#compare-table');
    const cols = ['Job', 'State', 'Optimizer', 'Learning rate', 'Batch', 'Epochs', 'Layers', 'Params', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'best val_acc', 'test acc'];
    table.tHead.replaceChildren(h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: c === 'Job' || c === 'Optimizer' ? 'text' : null, text: c }))));
    table.tBodies[0].replaceChildren(...ids.map((id, i) => {
      const job = jobs.get(id), d = compareData.get(id) || {};
      const spec = job.spec || {};
      const opt = optimizerOf(spec);
      const rows = d.epochs || [];
      const last = rows[rows.length - 1] || {};
      const lr = rows.length && isNum(rows[0].learning_rate) ? rows[0].learning_rate : opt.lr;
      const summary = d.model && d.model.summary;
      const layers = summary ? summary.length : layerCount(spec.model);
      const params = d.model && isNum(d.model.parameter_count) ? d.model.parameter_count
        : summary ? summary.reduce((n, r) => n + (r.params || 0), 0) : estimateParams(spec.model);
      const best = rows.reduce((b, r) => (isNum(r.val_accuracy) && (b == null || r.val_accuracy > b) ? r.val_accuracy : b), null);
      const epochsText = `${rows.length}/${(spec.fit && spec.fit.epochs) ?? '—'}`;
      const test = (job.metrics || {}).test_accuracy ?? (d.model && d.model.test_metrics && d.model.test_metrics.accuracy);
      const name = h('th', { scope: 'row' }, h('span', { class: 'swatch', style: `background:${colors[i % colors.length]};margin-right:.4rem` }),
        h('a', { href: `#/jobs/${encodeURIComponent(id)}`, text: job.name }), h('span', { class: 'job-meta block-meta', text: id }));
      return h('tr', {}, name,
        h('td', {}, h('span', { class: 'badge', dataset: { state: job.state }, text: job.state })),
        h('td', { class: 'text', text: opt.name }), h('td', { text: fmtNum(lr, 6) }), h('td', { text: (spec.fit && spec.fit.batch_size) ?? '—' }),
        h('td', { text: epochsText }), h('td', { text: layers ?? '—' }), h('td', { text: params == null ? '—' : fmtInt(params) }),
        h('td', { text: fmtNum(last.loss) }), h('td', { text: fmtNum(last.accuracy) }), h('td', { text: fmtNum(last.val_loss) }),
        h('td', { text: fmtNum(last.val_accuracy) }), h('td', { text: fmtNum(best) }), h('td', { text: fmtNum(test) }));
    }));
    if (!ids.length) table.tBodies[0].append(h('tr', {}, h('td', { colspan: String(cols.length), class: 'text empty', text: 'No job selected.' })));
  }

  function kerasLayers(model) {
    return model && model.class_name === 'Sequential' && model.config ? (model.config.layers || []).filter((l) => l.class_name !== 'InputLayer') : null;
  }
  function layerCount(model) {
    if (!model) return null;
    const k = kerasLayers(model);
    return k ? k.length : Array.isArray(model.layers) ? model.layers.length : null;
  }
  /** Parameters of a Sequent-format model, by shape inference (used before the model exists). */
  function estimateParams(model) {
    if (!model || !Array.isArray(model.input_shape) || !Array.isArray(model.layers)) return null;
    const pair = (v, d) => (Array.isArray(v) ? v : [v ?? d, v ?? d]);
    let shape = model.input_shape.slice(), total = 0;
    for (const l of model.layers) {
      const bias = l.use_bias === false ? 0 : 1;
      if (l.type === 'Dense') {
        total += shape[shape.length - 1] * l.units + bias * l.units;
        shape = [...shape.slice(0, -1), l.units];
      } else if (l.type === 'Conv2D' || l.type === 'MaxPooling2D' || l.type === 'AveragePooling2D') {
        const conv = l.type === 'Conv2D';
        const [kh, kw] = pair(conv ? l.kernel_size : l.pool_size, conv ? 3 : 2);
        const [sh, sw] = pair(l.strides ?? (conv ? 1 : [kh, kw]), 1);
        const same = l.padding === 'same';
        const oh = same ? Math.ceil(shape[0] / sh) : Math.floor((shape[0] - kh) / sh) + 1;
        const ow = same ? Math.ceil(shape[1] / sw) : Math.floor((shape[1] - kw) / sw) + 1;
        if (conv) total += kh * kw * shape[2] * l.filters + bias * l.filters;
        shape = [oh, ow, conv ? l.filters : shape[2]];
      } else if (l.type === 'Flatten') {
        shape = [shape.reduce((a, b) => a * b, 1)];
      } else if (l.type === 'GlobalAveragePooling2D' || l.type === 'GlobalMaxPooling2D') {
        shape = l.keepdims ? [1, 1, shape[shape.length - 1]] : [shape[shape.length - 1]];
      } else if (l.type === 'BatchNormalization') {
        total += shape[shape.length - 1] * (2 + (l.center === false ? 0 : 1) + (l.scale === false ? 0 : 1));
      } else if (!['Dropout', 'Rescaling', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'Softmax', 'RandomFlip',
                   'RandomRotation', 'RandomZoom', 'RandomTranslation', 'RandomContrast'].includes(l.type)) {
        return null;
      }
    }
    return total;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Models (Predict and feature maps)
  let modelsLoaded = 0;
  async function loadModels(force = false) {
    if (!force && Date.now() - modelsLoaded < 5000) return models;
    try { models = (await api('GET', '/v1/models?limit=200')).models || []; modelsLoaded = Date.now(); } catch { /* keep */ }
    fillModelSelects();
    return models;
  }
  const isConv = (m) => (m.summary || []).some((r) => r.type === 'Conv2D');
  function modelLabel(m) {
    const acc = m.test_metrics && isNum(m.test_metrics.accuracy) ? ` · test acc ${fmtNum(m.test_metrics.accuracy, 3)}` : '';
    return `${m.name} · ${m.id}${acc}`;
  }
  function fillModelSelects(preferred) {
    const p = $('#predict-model'), f = $('#fm-model');
    const keepP = preferred || p.value, keepF = f.value;
    p.replaceChildren(...models.map((m) => h('option', { value: m.id, text: modelLabel(m) })));
    const convs = models.filter(isConv), others = models.filter((m) => !isConv(m));
    f.replaceChildren(...convs.map((m) => h('option', { value: m.id, text: modelLabel(m) })),
      ...others.map((m) => h('option', { value: m.id, disabled: true, text: `${modelLabel(m)} (no Conv2D layers)` })));
    if (models.some((m) => m.id === keepP)) p.value = keepP;
    if (convs.some((m) => m.id === keepF)) f.value = keepF;
    $('#predict-nomodel').hidden = models.length > 0;
    $('#fm-hint').textContent = convs.length
      ? 'Each Conv2D and MaxPooling2D layer\'s output, one small image per channel (first 16), each scaled from its own minimum (black) to maximum (white).'
      : 'No convolutional model yet: train one from the fashion-cnn recipe to see its feature maps.';
  }

  // ---------------------------------------------------------------------------------------------------------
  // Predict
  async function enterPredict(query) {
    await loadModels();
    const want = query.get('model');
    if (want && models.some((m) => m.id === want)) $('#predict-model').value = want;
  }

  const objectUrls = [];
  function b64url(b64) { return `data:image/png;base64,${b64}`; }

  async function predictFiles(files) {
    files = [...files].filter((f) => f && f.size >= 0);
    const errorBox = $('#predict-error');
    errorBox.hidden = true;
    if (!files.length) return;
    const modelId = $('#predict-model').value;
    if (!modelId) { errorBox.textContent = 'Train a model first: there is none to predict with.'; errorBox.hidden = false; return; }
    for (const u of objectUrls.splice(0)) URL.revokeObjectURL(u);
    const list = $('#predict-results');
    const cards = files.map((file) => {
      const url = URL.createObjectURL(file);
      objectUrls.push(url);
      const seen = h('img', { class: 'thumb pixelated', alt: `${file.name} as the model sees it`, hidden: true });
      const body = h('div', { class: 'result-body' }, h('h3', { text: file.name }), h('p', { class: 'status', text: 'Classifying…' }));
      const li = h('li', { class: 'result' },
        h('figure', {}, h('img', { class: 'thumb', src: url, alt: file.name }), h('figcaption', { text: 'uploaded' })),
        h('figure', { class: 'seen' }, seen, h('figcaption', { text: 'model input' })),
        body);
      return { li, seen, body, file };
    });
    list.replaceChildren(...cards.map((c) => c.li));
    const form = () => { const fd = new FormData(); for (const f of files) fd.append('image', f, f.name); return fd; };
    const topK = $('#predict-topk').value, invert = $('#predict-invert').value;
    const q = `top_k=${encodeURIComponent(topK)}&invert=${encodeURIComponent(invert)}`;
    const id = encodeURIComponent(modelId);
    const [pred, pre] = await Promise.allSettled([
      api('POST', `/v1/models/${id}/predict?${q}`, { body: form() }),
      api('POST', `/v1/models/${id}/preprocess?invert=${encodeURIComponent(invert)}`, { body: form() }),
    ]);
    if (pred.status === 'rejected') {
      const err = pred.reason;
      errorBox.replaceChildren(err.field ? h('code', { text: err.field }) : '', err.field ? ': ' : '', err.message);
      errorBox.hidden = false;
      for (const c of cards) c.body.querySelector('.status').textContent = 'Not classified.';
      return;
    }
    pred.value.predictions.forEach((p, i) => {
      const c = cards[i];
      if (!c) return;
      const max = Math.max(...p.top.map((t) => t.probability), 1e-9);
      c.body.replaceChildren(
        h('h3', { text: c.file.name }),
        h('p', { class: 'verdict' }, `${p.label} `, h('span', { class: 'hint', text: fmtPct(p.probability) })),
        h('ol', { class: 'bars', 'aria-label': `Top ${p.top.length} classes for ${c.file.name}` }, p.top.map((t) => h('li', {},
          h('span', { class: 'label', text: t.label }),
          h('span', { class: 'bar-track', 'aria-hidden': 'true' }, h('span', { class: 'bar-fill', style: `width:${Math.max(1, (t.probability / max) * 100).toFixed(1)}%` })),
          h('span', { class: 'pct', text: fmtPct(t.probability) })))));
      c.li.dataset.label = p.label;
    });
    if (pre.status === 'fulfilled') {
      pre.value.inputs.forEach((inp, i) => {
        const c = cards[i];
        if (!c) return;
        c.seen.src = b64url(inp.png_base64);
        c.seen.hidden = false;
        c.seen.title = `${inp.width}×${inp.height}×${inp.channels}${inp.inverted ? ', inverted' : ''}`;
        c.li.querySelector('.seen figcaption').textContent = `model input ${inp.width}×${inp.height}${inp.inverted ? ' (inverted)' : ''}`;
      });
    }
    announce(`${pred.value.predictions.length} image(s) classified: ${pred.value.predictions.map((p) => p.label).join(', ')}`);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Data: sample grid and feature maps
  let samplesLoadedKey = null;
  let selectedSample = null;
  async function enterData() {
    loadModels();
    const key = `${$('#samples-split').value}:${$('#samples-offset').value}`;
    if (samplesLoadedKey !== key) loadSamples();
  }

  async function loadSamples() {
    const split = $('#samples-split').value;
    const offset = Math.max(0, Math.floor(Number($('#samples-offset').value) || 0));
    $('#samples-offset').value = offset;
    const errorBox = $('#samples-error');
    errorBox.hidden = true;
    $('#samples-offset').removeAttribute('aria-invalid');
    try {
      const d = await api('GET', `/v1/datasets/fashion_mnist/samples?split=${split}&offset=${offset}&count=24`);
      samplesLoadedKey = `${split}:${offset}`;
      $('#samples-offset').max = d.total - 1;
      $('#samples-prev').disabled = offset === 0;
      $('#samples-next').disabled = offset + d.samples.length >= d.total;
      $('#sample-grid').replaceChildren(...d.samples.map((s) => {
        const button = h('button', {
          type: 'button', class: 'sample', 'aria-pressed': String(selectedSample === `${split}:${s.index}`),
          'aria-label': `Sample ${s.index}: ${s.label}. Show feature maps.`, dataset: { index: s.index, label: s.label },
          onclick: () => sampleFeatureMaps(button, s, split),
        }, h('img', { src: b64url(s.png_base64), alt: '', width: '28', height: '28' }),
        h('span', { class: 'label', text: s.label }), h('span', { class: 'idx', text: `#${s.index}` }));
        return h('li', {}, button);
      }));
    } catch (err) {
      errorBox.replaceChildren(err.field ? h('code', { text: err.field }) : '', err.field ? ': ' : '', err.message);
      errorBox.hidden = false;
      if (err.field === 'offset') $('#samples-offset').setAttribute('aria-invalid', 'true');
    }
  }

  function sampleFeatureMaps(button, sample, split) {
    for (const b of document.querySelectorAll('.sample[aria-pressed="true"]')) b.setAttribute('aria-pressed', 'false');
    button.setAttribute('aria-pressed', 'true');
    selectedSample = `${split}:${sample.index}`;
    const bytes = Uint8Array.from(atob(sample.png_base64), (c) => c.charCodeAt(0));
    featureMaps(new Blob([bytes], { type: 'image/png' }), `${split} sample ${sample.index} (${sample.label})`);
  }

  let fmRun = 0;
  async function featureMaps(blob, name) {
    const out = $('#fm-output'), errorBox = $('#fm-error');
    errorBox.hidden = true;
    const modelId = $('#fm-model').value;
    if (!modelId) {
      errorBox.textContent = 'Train a model with Conv2D layers (for example the fashion-cnn recipe) to see feature maps.';
      errorBox.hidden = false;
      return;
    }
    const run = ++fmRun;
    out.replaceChildren(h('p', { class: 'hint', text: `Computing feature maps of ${name}…` }));
    const fd = new FormData();
    fd.append('image', blob, name.replace(/[^\w.-]+/g, '_') + (blob.type === 'image/jpeg' ? '.jpg' : '.png'));
    try {
      const d = await api('POST', `/v1/models/${encodeURIComponent(modelId)}/feature-maps`, { body: fd });
      if (run !== fmRun) return;
      const p = d.prediction;
      const head = h('div', { class: 'fm-input' },
        h('img', { src: b64url(d.input.png_base64), alt: `${name} as the model sees it (${d.input.width}×${d.input.height})` }),
        h('div', {}, h('p', {}, h('strong', { text: name })),
          h('p', { class: 'hint', text: `model input ${d.input.width}×${d.input.height}×${d.input.channels}` }),
          p ? h('p', {}, 'Prediction: ', h('strong', { text: p.label }), ` (${fmtPct(p.probability)})`) : null));
      const layers = d.layers.map((l) => h('section', { class: 'fm-layer', dataset: { layer: l.name } },
        h('h3', {}, `${l.name} `, h('span', { class: 'hint', text: `${l.type} · ${l.shape.join('×')} · showing ${l.maps.length} of ${l.shape[2]} channels` })),
        h('ul', { class: 'fm-maps' }, l.maps.map((m, i) => h('li', {}, h('figure', {},
          h('img', { src: b64url(m), alt: `${l.name} channel ${i}` }), h('figcaption', { text: String(i) })))))));
      out.replaceChildren(head, ...(layers.length ? layers : [h('p', { class: 'empty', text: 'This model has no Conv2D or MaxPooling2D layers.' })]));
      out.dataset.layers = String(d.layers.length);
      announce(`Feature maps of ${d.layers.length} layers for ${name}`);
    } catch (err) {
      if (run !== fmRun) return;
      out.replaceChildren();
      errorBox.replaceChildren(err.field ? h('code', { text: err.field }) : '', err.field ? ': ' : '', err.message);
      errorBox.hidden = false;
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Wiring
  function init() {
    lossChart = new Chart($('#chart-loss'), { title: 'Loss' });
    accChart = new Chart($('#chart-acc'), { title: 'Accuracy' });
    compareChart = new Chart($('#compare-chart'), { title: 'Comparison' });

    $('#new-job-toggle').addEventListener('click', () => ($('#new-job').hidden ? openForm() : closeForm()));
    $('#close-new-job').addEventListener('click', closeForm);
    $('#recipe-select').addEventListener('change', (e) => { if (e.target.value !== '__job') applyRecipe(e.target.value); });
    $('#new-job').addEventListener('submit', submitJob);
    $('#format-json').addEventListener('click', () => {
      try { editor().value = specText(JSON.parse(editor().value)); clearSpecError(); } catch (err) {
        const m = /position (\d+)/.exec(err.message);
        showSpecError({ message: `The JSON does not parse: ${err.message}`, position: m ? Number(m[1]) : undefined });
      }
    });
    editor().addEventListener('input', () => { if (editor().getAttribute('aria-invalid')) clearSpecError(); syncQuick(); });
    editor().addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); $('#new-job').requestSubmit(); }
    });
    $('#quick-epochs').addEventListener('input', (e) => quickEdit(['fit', 'epochs'], e.target));
    $('#quick-train-limit').addEventListener('input', (e) => quickEdit(['dataset', 'train_limit'], e.target));
    $('#quick-test-limit').addEventListener('input', (e) => quickEdit(['dataset', 'test_limit'], e.target));
    $('#jobs-more').addEventListener('click', () => loadJobs(true).catch((err) => notify(err.message, 'error')));

    $('#job-cancel').addEventListener('click', () => detail.id && cancelJob(detail.id));
    $('#job-clone').addEventListener('click', () => {
      if (!detail.job) return;
      openForm(specText(detail.job.spec), `copy of ${detail.job.name} (${detail.job.id})`);
    });
    $('#job-compare').addEventListener('click', () => {
      if (!detail.id) return;
      if (compareIds.has(detail.id)) compareIds.delete(detail.id); else compareIds.add(detail.id);
      saveCompare();
      announce(compareIds.has(detail.id) ? 'Added to the comparison' : 'Removed from the comparison');
    });
    for (const r of document.querySelectorAll('input[name="job-x"]')) {
      r.addEventListener('change', () => { detail.xMode = r.value; updateCharts(); });
    }
    $('#job-smoothing').addEventListener('input', (e) => {
      const v = Number(e.target.value);
      $('#job-smoothing-out').textContent = v.toFixed(2);
      lossChart.setSmoothing(v); accChart.setSmoothing(v);
    });

    $('#compare-metric').addEventListener('change', renderCompare);
    for (const r of document.querySelectorAll('input[name="compare-x"]')) r.addEventListener('change', loadCompare);
    $('#compare-smoothing').addEventListener('input', (e) => {
      const v = Number(e.target.value);
      $('#compare-smoothing-out').textContent = v.toFixed(2);
      compareChart.setSmoothing(v);
    });

    const input = $('#predict-files');
    // Reset the input after reading it, so choosing the same file again classifies it again.
    input.addEventListener('change', () => { const files = [...input.files]; input.value = ''; predictFiles(files); });
    const zone = $('#drop-zone');
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.dataset.over = 'true'; });
    zone.addEventListener('dragleave', () => { zone.dataset.over = 'false'; });
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.dataset.over = 'false';
      predictFiles([...e.dataTransfer.files].filter((f) => /^image\//.test(f.type) || /\.(png|jpe?g)$/i.test(f.name)));
    });
    // A drop outside the zone must not navigate away from the page.
    window.addEventListener('dragover', (e) => e.preventDefault());
    window.addEventListener('drop', (e) => e.preventDefault());

    $('#samples-form').addEventListener('submit', (e) => { e.preventDefault(); loadSamples(); });
    $('#samples-split').addEventListener('change', () => { $('#samples-offset').value = 0; loadSamples(); });
    $('#samples-prev').addEventListener('click', () => { $('#samples-offset').value = Math.max(0, Number($('#samples-offset').value) - 24); loadSamples(); });
    $('#samples-next').addEventListener('click', () => { $('#samples-offset').value = Number($('#samples-offset').value) + 24; loadSamples(); });
    const fmFile = $('#fm-file');
    fmFile.addEventListener('change', () => {
      const file = fmFile.files[0];
      fmFile.value = '';
      if (file) {
        for (const b of document.querySelectorAll('.sample[aria-pressed="true"]')) b.setAttribute('aria-pressed', 'false');
        selectedSample = null;
        featureMaps(file, file.name);
      }
    });

    $('#token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      storage('sequent.token', $('#token-input').value);
      $('#token-bar').hidden = true;
      notify('Token saved in this browser. Try the action again.');
    });
    $('#token-dismiss').addEventListener('click', () => { $('#token-bar').hidden = true; });
    $('#notice-close').addEventListener('click', () => { $('#notice').hidden = true; });

    document.addEventListener('visibilitychange', () => { if (!document.hidden) poll(); });
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      updateCharts(); if (currentView === 'compare') renderCompare();
    });
    window.addEventListener('hashchange', route);

    saveCompare();
    loadRecipes();
    loadJobs().catch((err) => { notify(`Cannot load jobs: ${err.message}`, 'error'); schedulePoll(); });
    route();
  }

  // For tests and the curious: the charts and the chart class.
  window.sequentDashboard = { Chart, charts: () => ({ loss: lossChart, accuracy: accChart, compare: compareChart }) };
  init();
})();
