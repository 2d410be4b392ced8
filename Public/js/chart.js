// Charts: a canvas line chart that stays fast with 100k points (per-pixel-column min/max when drawing), raw
// points always drawn, optional debiased EMA smoothing on top, zoom and pan on the x axis, a log y axis,
// hover and keyboard read-outs. The functions above the Chart class are pure (node's tests import them); the
// class touches the DOM only when constructed.
import { fmtDuration, fmtInt, fmtNum, isNum } from './format.js';
import { cssVar, h } from './dom.js';

/** A 1, 2 or 5 × 10ⁿ step giving about `count` intervals over `span`. */
export function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}

/** Linear ticks: multiples of a nice step within [lo, hi] (integers only when `integer`), at most 50. */
export function ticks(lo, hi, count, integer) {
  let step = niceStep(hi - lo, count);
  if (integer) step = Math.max(1, Math.round(step));
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9 && out.length < 50; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Log ticks within [lo, hi] (both > 0): every digit × 10ⁿ, else 1, 2 and 5 × 10ⁿ, else powers of ten (every
 *  k-th over many decades) — the densest that stays within about 1.5 × `count`; linear ticks when that gives
 *  fewer than two. */
export function logTicks(lo, hi, count) {
  if (!(lo > 0) || !(hi > lo)) return [];
  const e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi));
  const budget = Math.max(2, count * 1.5);
  const make = (mult, every) => {
    const out = [];
    for (let e = e0; e <= e1; e += every) {
      for (const m of mult) {
        const v = Number((m * 10 ** e).toPrecision(12));
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
      }
    }
    return out;
  };
  let out = null;
  for (const mult of [[1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 5]]) {
    const t = make(mult, 1);
    if (t.length <= budget) { out = t; break; }
  }
  if (!out) {
    out = make([1], 1);
    if (out.length > budget) out = make([1], Math.ceil(out.length / budget));
  }
  return out.length >= 2 ? out : ticks(lo, hi, count, false).filter((v) => v > 0);
}

/** TensorBoard's smoothing: an exponential moving average with weight `s` on the past, debiased (divided by
 *  1 − sᵗ) so that the first values are not pulled towards zero. Non-finite values are passed through and
 *  leave the average as it was. */
export function emaDebiased(values, s) {
  const out = new Array(values.length);
  let acc = 0, weight = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) { out[i] = v; continue; }
    acc = acc * s + (1 - s) * v;
    weight = weight * s + (1 - s);
    out[i] = acc / weight;
  }
  return out;
}

/** Zero-lag smoothing of [[x, y, segment?], …]: the debiased EMA run forwards, then backwards over the result,
 *  so the curve is not shifted to the right of the data (a one-way EMA lags behind it). Each segment (epoch)
 *  is smoothed on its own: a running mean that restarts must not be averaged across the restart. */
export function smoothSeries(points, s) {
  const out = new Array(points.length);
  for (let start = 0; start < points.length;) {
    let end = start + 1;
    while (end < points.length && points[end][2] === points[start][2]) end++;
    const ys = [];
    for (let i = start; i < end; i++) ys.push(points[i][1]);
    const back = emaDebiased(emaDebiased(ys, s).reverse(), s).reverse();
    for (let i = start; i < end; i++) {
      const p = points[i];
      out[i] = p.length > 2 ? [p[0], back[i - start], p[2]] : [p[0], back[i - start]];
    }
    start = end;
  }
  return out;
}

/** Series with fewer points are never smoothed (validation at a few epoch ends): there is nothing to average. */
export const MIN_SMOOTHED_POINTS = 10;

/** Index of the point whose x is nearest to `x` (points sorted by x). */
export function nearest(points, x) {
  let lo = 0, hi = points.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid][0] < x) lo = mid + 1; else hi = mid;
  }
  if (lo > 0 && Math.abs(points[lo - 1][0] - x) <= Math.abs(points[lo][0] - x)) return lo - 1;
  return lo;
}

/** The points that draw within [x0, x1] (sorted by x): those inside and one on each side, so lines run to the
 *  edges of the plot. */
export function visibleSlice(points, x0, x1) {
  let lo = 0, hi = points.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (points[mid][0] < x0) lo = mid + 1; else hi = mid; }
  const start = Math.max(0, lo - 1);
  lo = start; hi = points.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (points[mid][0] <= x1) lo = mid + 1; else hi = mid; }
  const end = Math.min(points.length, lo + 1);
  return start === 0 && end === points.length ? points : points.slice(start, end);
}

/** The vertices of a polyline through `points` in pixels: [[px, py, moveTo], …]. Beyond two points per pixel
 *  column it keeps each column's first, lowest, highest and last point instead (so the ends and every extreme
 *  stay visible). A change of segment (the third element of a point) starts a new line. */
export function decimate(points, X, Y, columns) {
  const out = [];
  if (points.length <= columns * 2) {
    for (let i = 0; i < points.length; i++) {
      out.push([X(points[i][0]), Y(points[i][1]), i === 0 || points[i][2] !== points[i - 1][2]]);
    }
    return out;
  }
  let col = null, seg, first = 0, last = 0, mn = 0, mx = 0, move = true;
  const flush = () => {
    if (col === null) return;
    const px = col + 0.5;
    out.push([px, first, move], [px, mn, false], [px, mx, false], [px, last, false]);
    move = false;
  };
  for (const p of points) {
    const px = Math.floor(X(p[0])), py = Y(p[1]);
    if (px !== col || p[2] !== seg) {
      flush();
      if (col !== null && p[2] !== seg) move = true;
      col = px; seg = p[2]; first = last = mn = mx = py;
    } else {
      if (py < mn) mn = py;
      if (py > mx) mx = py;
      last = py;
    }
  }
  flush();
  return out;
}

/** [lo, hi] zoomed by `factor` (< 1 zooms in) around `center`, kept within [min, max]. */
export function zoomRange([lo, hi], center, factor, [min, max]) {
  const span = Math.min(max - min, Math.max((hi - lo) * factor, (max - min) * 1e-6));
  const t = hi > lo ? (center - lo) / (hi - lo) : 0.5;
  return clampRange(center - span * t, span, [min, max]);
}

/** [lo, hi] moved by `dx` data units, kept within [min, max]. */
export function panRange([lo, hi], dx, [min, max]) {
  return clampRange(lo + dx, hi - lo, [min, max]);
}

function clampRange(lo, span, [min, max]) {
  if (span >= max - min) return [min, max];
  const a = Math.min(Math.max(lo, min), max - span);
  return [a, a + span];
}

/** A short digest of drawn vertices (rounded to tenths of a pixel), for tests to see that a path changed. */
function digest(hash, vertices) {
  for (const v of vertices) hash = (Math.imul(hash, 31) + Math.round(v[0] * 10) * 7919 + Math.round(v[1] * 10) + (v[2] ? 1 : 0)) | 0;
  return hash;
}

export class Chart {
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
    this.view = null;       // the zoomed x range [lo, hi], or null for all of it
    this.logY = false;
    this.drag = null;       // {mode: 'zoom' | 'pan', startPx, px, view}
    this.box = h('div', { class: 'chart-box' });
    this.canvas = h('canvas', { tabindex: '0', role: 'img', 'aria-label': `${title}: no data yet` });
    this.tip = h('div', { class: 'chart-tip', 'aria-hidden': 'true', hidden: true });
    this.empty = h('p', { class: 'chart-empty', text: 'No points yet' });
    this.legend = h('ul', { class: 'legend', 'aria-label': `${title}: series (select to show or hide)` });
    this.live = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });
    this.resetButton = h('button', { type: 'button', class: 'small chart-reset', disabled: true, text: 'Reset zoom',
      title: 'Show the whole x range (or double-click the chart; the 0 key)', onclick: () => this.resetZoom() });
    this.logButton = h('button', { type: 'button', class: 'small chart-log', 'aria-pressed': 'false', text: 'Log scale',
      title: 'Logarithmic y axis (values ≤ 0 are left out)', onclick: () => this.setLogY(!this.logY) });
    this.tools = h('div', { class: 'chart-tools', role: 'group', 'aria-label': `${title}: view` }, this.logButton, this.resetButton);
    this.marks = [];        // [{kind, label, x} | {kind, label, from, to}] in x-axis units, drawn over the plot
    this.markLayer = h('div', { class: 'chart-marks', 'aria-hidden': 'true' });
    this.box.append(this.canvas, this.markLayer, this.empty, this.tip);
    figure.append(this.tools, this.box, this.legend, this.live);
    figure.dataset.points = '0';
    figure.dataset.yScale = 'linear';
    figure.dataset.zoomed = 'false';
    new ResizeObserver(() => this.requestDraw()).observe(this.box);
    this.canvas.addEventListener('pointerdown', (e) => this.pointerDown(e));
    this.canvas.addEventListener('pointermove', (e) => this.pointer(e));
    this.canvas.addEventListener('pointerup', (e) => this.pointerUp(e));
    this.canvas.addEventListener('pointercancel', () => { this.drag = null; this.requestDraw(); });
    this.canvas.addEventListener('pointerleave', () => { if (!this.drag) { this.hoverX = null; this.requestDraw(); } });
    this.canvas.addEventListener('dblclick', () => this.resetZoom());
    this.canvas.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    this.canvas.addEventListener('keydown', (e) => this.key(e));
    this.canvas.addEventListener('blur', () => { this.hoverX = null; this.keyIndex = null; this.requestDraw(); });
  }

  /** Points the server should send per series: about one per pixel column. */
  get maxPoints() { return Math.max(64, Math.min(100000, Math.round((this.box.clientWidth || 800) * (window.devicePixelRatio || 1)))); }

  /** series: [{id, label, color, points: [[x, y, segment?], …], markers?: bool, dash?: [..]}]; xKind: step | wall | epoch. */
  setSeries(series, xKind) {
    if (xKind !== this.xKind) this.view = null;
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

  /** Marks over the plot: a vertical line at `x` ({kind, label, x}) or a shaded band ({kind, label, from, to}).
   *  They are elements rather than pixels so they carry their label (and a test can find them). */
  setMarks(marks) { this.marks = (marks || []).filter((k) => isNum(k.x) || (isNum(k.from) && isNum(k.to))); this.requestDraw(); }

  placeMarks() {
    const L = this.layout;
    this.markLayer.replaceChildren(...(L ? this.marks : []).flatMap((k) => {
      const band = !isNum(k.x);
      const a = Math.max(L.x0, band ? k.from : k.x), b = Math.min(L.x1, band ? k.to : k.x);
      if (a > b) return [];
      const left = L.X(a), width = band ? L.X(b) - left : 0;
      return [h('div', {
        // A label in the right half hangs to the left of its mark, so it stays inside the plot.
        class: `chart-mark ${band ? 'band' : 'line'} mark-${k.kind}${left > L.m.l + L.pw / 2 ? ' flip' : ''}`, dataset: { testid: `mark-${k.kind}`, x: String(band ? k.from : k.x) },
        style: `left:${left.toFixed(1)}px;width:${width.toFixed(1)}px;top:${L.m.t}px;height:${L.ph}px`,
      }, h('span', { class: 'mark-label', text: k.label }))];
    }));
    this.figure.dataset.marks = this.marks.map((k) => k.kind).join(' ');
  }

  setSmoothing(s) { this.smoothing = s; this.smooth(); this.requestDraw(); }

  setLogY(on) {
    this.logY = Boolean(on);
    this.logButton.setAttribute('aria-pressed', String(this.logY));
    this.figure.dataset.yScale = this.logY ? 'log' : 'linear';
    this.requestDraw();
  }

  /** The whole x range of the visible series, [lo, hi], or null without points. */
  fullRange() {
    let x0 = Infinity, x1 = -Infinity;
    for (const s of this.visible()) {
      if (s.points[0][0] < x0) x0 = s.points[0][0];
      if (s.points[s.points.length - 1][0] > x1) x1 = s.points[s.points.length - 1][0];
    }
    if (!(x1 >= x0)) return null;
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    return [x0, x1];
  }

  /** Zooms the x axis to [lo, hi] (clamped to the data); a range covering everything resets. */
  zoomTo(lo, hi) {
    const full = this.fullRange();
    if (!full) return;
    const a = Math.max(full[0], Math.min(lo, hi)), b = Math.min(full[1], Math.max(lo, hi));
    this.view = b - a > (full[1] - full[0]) * 1e-6 && (a > full[0] || b < full[1]) ? [a, b] : null;
    this.requestDraw();
  }

  zoomBy(factor, center) {
    const full = this.fullRange();
    if (!full) return;
    const cur = this.view || full;
    const [a, b] = zoomRange(cur, center ?? (cur[0] + cur[1]) / 2, factor, full);
    this.zoomTo(a, b);
  }

  panBy(dx) {
    const full = this.fullRange();
    if (!full || !this.view) return;
    this.view = panRange(this.view, dx, full);
    this.requestDraw();
  }

  resetZoom() { this.view = null; this.requestDraw(); }

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
    const full = this.fullRange();
    if (this.view && full) this.view = [Math.max(full[0], this.view[0]), Math.min(full[1], this.view[1])];
    if (this.view && (!full || !(this.view[1] > this.view[0]))) this.view = null;
    const fig = this.figure.dataset;
    fig.points = String(total);
    fig.series = String(vis.length);
    fig.zoomed = String(this.view != null);
    fig.smoothing = String(this.smoothing);
    this.resetButton.disabled = this.view == null;
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
    if (!total) { this.tip.hidden = true; this.layout = null; fig.path = ''; this.placeMarks(); return; }

    let [x0, x1] = this.view || full;
    fig.x0 = String(x0);
    fig.x1 = String(x1);
    // What each series draws: the points in the x range, and on a log axis only positive values.
    const log = this.logY;
    const keep = (pts) => {
      const sl = visibleSlice(pts, x0, x1);
      return log ? sl.filter((p) => p[1] > 0) : sl;
    };
    const shown = vis.map((s) => ({ s, points: keep(s.points), smoothed: s.smoothed ? keep(s.smoothed) : null }));
    let y0 = Infinity, y1 = -Infinity;
    for (const { points } of shown) {
      for (const p of points) {
        if (p[0] < x0 || p[0] > x1) continue;
        if (p[1] < y0) y0 = p[1];
        if (p[1] > y1) y1 = p[1];
      }
    }
    if (!(y1 >= y0)) { y0 = log ? 0.1 : 0; y1 = log ? 1 : 1; }
    // The y axis in drawing units: log10 of the value on a log axis.
    const T = log ? Math.log10 : (v) => v;
    let t0 = T(y0), t1 = T(y1);
    if (t0 === t1) { const d = Math.abs(t0) * 0.1 || 1; t0 -= d; t1 += d; }
    const pad = (t1 - t0) * 0.06;
    t0 -= pad; t1 += pad;

    const font = '12px system-ui, -apple-system, "Segoe UI", sans-serif';
    ctx.font = font;
    const yCount = Math.max(2, Math.floor(hgt / 55));
    const yt = log ? logTicks(10 ** t0, 10 ** t1, yCount) : ticks(t0, t1, yCount, false);
    const yLabels = yt.map((v) => this.yFormat(v));
    const left = Math.ceil(Math.max(...yLabels.map((t) => ctx.measureText(t).width), 20)) + 14;
    const m = { l: left, r: 14, t: 10, b: 28 };
    const pw = Math.max(10, w - m.l - m.r), ph = Math.max(10, hgt - m.t - m.b);
    const X = (x) => m.l + ((x - x0) / (x1 - x0)) * pw;
    const Y = (y) => m.t + (1 - (T(y) - t0) / (t1 - t0)) * ph;
    this.layout = { m, pw, ph, x0, x1, X, Y };

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

    const stroke = (vertices) => {
      ctx.beginPath();
      for (const [px, py, move] of vertices) if (move) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      ctx.stroke();
    };
    let hash = 17, drawn = 0;
    ctx.save();
    ctx.beginPath(); ctx.rect(m.l - 4, m.t - 4, pw + 8, ph + 8); ctx.clip();
    for (const { s, points, smoothed } of shown) {
      ctx.strokeStyle = s.color; ctx.fillStyle = s.color;
      ctx.setLineDash(s.dash || []);
      // Raw points: always drawn; faint when a smoothed line is drawn over them.
      ctx.globalAlpha = smoothed ? 0.35 : 1;
      ctx.lineWidth = smoothed ? 1 : 1.5;
      const raw = decimate(points, X, Y, pw);
      stroke(raw);
      drawn += raw.length;
      hash = digest(hash, raw);
      if (s.markers || points.length * 8 < pw) {
        for (const p of points) { ctx.beginPath(); ctx.arc(X(p[0]), Y(p[1]), 2.6, 0, Math.PI * 2); ctx.fill(); }
      }
      if (smoothed) {
        ctx.globalAlpha = 1; ctx.lineWidth = 2.2;
        const sm = decimate(smoothed, X, Y, pw);
        stroke(sm);
        drawn += sm.length;
        hash = digest(hash, sm);
      }
      ctx.setLineDash([]);
    }
    ctx.restore();
    ctx.globalAlpha = 1;
    fig.path = (hash >>> 0).toString(16);
    // Vertices stroked: bounded by the plot's pixel columns, not by the points (what keeps 100k points fast).
    fig.drawn = String(drawn);
    fig.plotWidth = String(Math.round(pw));
    if (this.drag && this.drag.mode === 'zoom') {
      const a = Math.max(m.l, Math.min(this.drag.startPx, this.drag.px)), b = Math.min(m.l + pw, Math.max(this.drag.startPx, this.drag.px));
      ctx.fillStyle = axis; ctx.globalAlpha = 0.15;
      ctx.fillRect(a, m.t, b - a, ph);
      ctx.globalAlpha = 1;
    }
    this.placeMarks();
    this.drawHover(ctx, vis);
  }

  drawHover(ctx, vis) {
    const L = this.layout;
    if (this.hoverX == null || !L || this.drag) { this.tip.hidden = true; return; }
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
      const py = L.Y(p[1]);
      if (Number.isFinite(py)) { ctx.fillStyle = s.color; ctx.beginPath(); ctx.arc(L.X(p[0]), py, 4, 0, Math.PI * 2); ctx.fill(); }
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
    this.canvas.setAttribute('aria-label', `${this.title} chart. ${parts.join('; ')}. Use the arrow keys to read values, `
      + 'drag or + and − to zoom, Shift with a drag or the arrow keys to pan, 0 to reset.');
  }

  /** The data x under a client x, or null outside the plot (with a few pixels to spare). */
  xAt(clientX, margin = 8) {
    const L = this.layout;
    if (!L) return null;
    const px = clientX - this.canvas.getBoundingClientRect().left;
    if (px < L.m.l - margin || px > L.m.l + L.pw + margin) return null;
    return L.x0 + ((px - L.m.l) / L.pw) * (L.x1 - L.x0);
  }

  pointerDown(e) {
    if (e.button !== 0 || !this.layout) return;
    const px = e.clientX - this.canvas.getBoundingClientRect().left;
    if (this.xAt(e.clientX, 0) == null) return;
    const mode = e.shiftKey && this.view ? 'pan' : 'zoom';
    this.drag = { mode, startPx: px, px, view: this.view };
    try { this.canvas.setPointerCapture(e.pointerId); } catch { /* synthetic pointer */ }
  }

  pointer(e) {
    const L = this.layout;
    if (!L) return;
    if (this.drag) {
      const px = e.clientX - this.canvas.getBoundingClientRect().left;
      this.drag.px = px;
      if (this.drag.mode === 'pan' && this.drag.view) {
        const full = this.fullRange();
        const dx = -((px - this.drag.startPx) / L.pw) * (this.drag.view[1] - this.drag.view[0]);
        if (full) this.view = panRange(this.drag.view, dx, full);
      }
      this.requestDraw();
      return;
    }
    const x = this.xAt(e.clientX);
    if (x == null) { this.hoverX = null; this.requestDraw(); return; }
    this.keyIndex = null;
    this.hoverX = x;
    this.requestDraw();
  }

  pointerUp(e) {
    const d = this.drag, L = this.layout;
    this.drag = null;
    if (!d || !L) return;
    const px = e.clientX - this.canvas.getBoundingClientRect().left;
    if (d.mode === 'zoom' && Math.abs(px - d.startPx) >= 5) {
      const toX = (p) => L.x0 + ((Math.max(L.m.l, Math.min(L.m.l + L.pw, p)) - L.m.l) / L.pw) * (L.x1 - L.x0);
      this.zoomTo(toX(d.startPx), toX(px));
    }
    this.hoverX = this.xAt(e.clientX);
    this.requestDraw();
  }

  /** The wheel zooms once the chart has focus (a click or Tab gives it), so scrolling the page past a chart
   *  still scrolls the page; Shift or a sideways wheel pans. */
  wheel(e) {
    if (document.activeElement !== this.canvas || !this.layout) return;
    const x = this.xAt(e.clientX, 0);
    if (x == null) return;
    e.preventDefault();
    const L = this.layout;
    const sideways = e.shiftKey ? e.deltaY : e.deltaX;
    if (sideways && this.view) { this.panBy((sideways / L.pw) * (L.x1 - L.x0)); return; }
    if (e.deltaY) this.zoomBy(Math.exp(Math.max(-1, Math.min(1, e.deltaY / 300))), x);
  }

  key(e) {
    const vis = this.visible();
    if (!vis.length) return;
    const L = this.layout;
    if ((e.key === '+' || e.key === '=') && L) { e.preventDefault(); this.zoomBy(0.5, this.hoverX ?? undefined); return; }
    if ((e.key === '-' || e.key === '_') && L) { e.preventDefault(); this.zoomBy(2, this.hoverX ?? undefined); return; }
    if (e.key === '0') { e.preventDefault(); this.resetZoom(); return; }
    if (e.shiftKey && (e.key === 'ArrowLeft' || e.key === 'ArrowRight') && L && this.view) {
      e.preventDefault();
      this.panBy((e.key === 'ArrowLeft' ? -0.2 : 0.2) * (L.x1 - L.x0));
      return;
    }
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
