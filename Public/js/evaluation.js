// The model page (#/models/{id}): the model's stored evaluation as a confusion-matrix heat map (rows the true
// class, columns the predicted one) beside its per-class table; a click on a cell lists that cell's images, the
// most confident first, and a click on an image shows its feature maps. A one-unit model also gets its ROC curve
// with a threshold slider.
import { api, apiBlob, enc } from './api.js';
import { $, announce, h, showError } from './dom.js';
import { fmtInt, fmtNum, fmtPct, isNum } from './format.js';
import { classTotals, operatingPoint } from './roc.js';
import { showFeatureMaps } from './data.js';

let shown = null;   // { id, evaluation } of the page on screen

/** The heat map's shade of a cell: its share of the true class's row, so every class reads on the same scale. */
export function cellShade(count, rowTotal) {
  return rowTotal > 0 ? Math.min(1, count / rowTotal) : 0;
}

/** Images a cell lists per page. */
export const CELL_PAGE = 48;

/** The query of one page of a cell's samples: the evaluation's own split, `CELL_PAGE` from `offset`. */
export function cellQuery(split, offset) {
  return `?split=${encodeURIComponent(split)}&offset=${offset}&limit=${CELL_PAGE}`;
}

/** The export links of a model: one per format the server writes. */
export function exportPath(modelId, format) {
  return `/v1/models/${enc(modelId)}/export?format=${format}`;
}

function showDownloads(model) {
  for (const a of document.querySelectorAll('#eval-downloads a[data-format]')) a.href = exportPath(model.id, a.dataset.format);
  $('#eval-downloads').hidden = false;
}

export async function enterModel(id) {
  const box = $('#eval-error');
  box.hidden = true;
  $('#eval-title').textContent = id ? `Model ${id}` : 'Model';
  if (!id) return;
  if (shown && shown.id === id) return;
  $('#eval-summary').textContent = 'Evaluating…';
  $('#eval-matrix').replaceChildren();
  $('#eval-classes').replaceChildren();
  $('#eval-cell').replaceChildren();
  $('#eval-fm').replaceChildren();
  $('#eval-fm-error').hidden = true;
  $('#eval-roc').hidden = true;
  $('#eval-downloads').hidden = true;
  try {
    const model = await api('GET', `/v1/models/${enc(id)}`);
    showDownloads(model);
    $('#eval-title').textContent = `${model.name} · ${model.id}`;
    const evaluation = await api('GET', `/v1/models/${enc(id)}/evaluation`);
    shown = { id, evaluation };
    render(evaluation);
  } catch (err) {
    $('#eval-summary').textContent = '';
    showError(box, err);
  }
}

function render(e) {
  const loss = isNum(e.loss) ? ` · loss ${fmtNum(e.loss, 4)}` : '';
  const auc = isNum(e.auc) ? ` · AUC ${fmtNum(e.auc, 3)}` : '';
  $('#eval-summary').textContent = `${e.split} split: ${fmtInt(e.samples)} samples · accuracy ${fmtPct(e.accuracy)}${loss}${auc}`;
  const classes = e.classes || [];
  const matrix = e.confusion_matrix || [];
  const head = h('tr', {}, h('th', { scope: 'col', class: 'corner', text: 'true ↓ / predicted →' }),
    classes.map((c) => h('th', { scope: 'col', class: 'col-head', title: c, text: c })));
  const rows = matrix.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return h('tr', {}, h('th', { scope: 'row', text: classes[t] }), row.map((count, p) => {
      const shade = cellShade(count, total);
      return h('td', {}, h('button', {
        type: 'button', class: `cell${t === p ? ' diagonal' : ''}${shade > 0.5 ? ' strong' : ''}`, dataset: { true: String(t), predicted: String(p), count: String(count) },
        style: `--shade:${shade.toFixed(3)}`, 'aria-label': `${count} ${classes[t]} predicted as ${classes[p]}`,
        text: String(count), onclick: () => showCell(e, t, p),
      }));
    }));
  });
  $('#eval-matrix').replaceChildren(h('table', { class: 'confusion', 'data-testid': 'confusion-matrix' },
    h('thead', {}, head), h('tbody', {}, rows)));
  $('#eval-classes').replaceChildren(h('table', { class: 'data-table' },
    h('thead', {}, h('tr', {}, ['class', 'precision', 'recall', 'F1', 'support'].map((c) => h('th', { scope: 'col', text: c })))),
    h('tbody', {}, (e.per_class || []).map((r) => h('tr', {}, h('td', { class: 'text', text: r.class }),
      h('td', { text: fmtNum(r.precision, 3) }), h('td', { text: fmtNum(r.recall, 3) }), h('td', { text: fmtNum(r.f1, 3) }),
      h('td', { text: fmtInt(r.support) }))))));
  renderROC(e);
}

const SVG = 'http://www.w3.org/2000/svg';
/** An SVG element with attributes (h() makes HTML ones). */
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** A one-unit model's ROC curve (FPR across, TPR up) with the chance diagonal and the AUC, and the threshold
 *  slider moving a marker along it. */
function renderROC(e) {
  const points = Array.isArray(e.roc) ? e.roc : [];
  $('#eval-roc').hidden = points.length === 0;
  if (!points.length) return;
  const size = 320, pad = 36, span = size - 2 * pad;
  const X = (fpr) => pad + fpr * span, Y = (tpr) => size - pad - tpr * span;
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${X(p.fpr).toFixed(1)},${Y(p.tpr).toFixed(1)}`).join('');
  const marker = svg('circle', { class: 'marker', r: 6, 'data-testid': 'roc-marker' });
  const auc = isNum(e.auc) ? `AUC ${fmtNum(e.auc, 3)}` : 'AUC undefined (one class only)';
  const plot = svg('svg', { viewBox: `0 0 ${size} ${size}`, role: 'img', 'data-testid': 'roc-curve', 'data-points': points.length,
    'aria-label': `ROC curve of ${points.length} points, ${auc}` },
    svg('line', { class: 'axis', x1: X(0), y1: Y(0), x2: X(1), y2: Y(0) }),
    svg('line', { class: 'axis', x1: X(0), y1: Y(0), x2: X(0), y2: Y(1) }),
    svg('line', { class: 'diagonal', 'data-testid': 'roc-diagonal', x1: X(0), y1: Y(0), x2: X(1), y2: Y(1) }),
    svg('path', { class: 'curve', d: path }),
    marker,
    svg('text', { x: X(1), y: Y(0) + 24, 'text-anchor': 'end' }, 'false positive rate'),
    svg('text', { x: X(0) - 24, y: Y(1), transform: `rotate(-90 ${X(0) - 24} ${Y(1)})`, 'text-anchor': 'end' }, 'true positive rate'),
    svg('text', { x: X(1) - 4, y: Y(0) - 8, 'text-anchor': 'end', 'data-testid': 'roc-auc' }, auc));
  $('#eval-roc-plot').replaceChildren(plot);
  const totals = classTotals(e);
  const slider = $('#eval-threshold');
  const update = () => {
    const t = Number(slider.value);
    $('#eval-threshold-out').textContent = t.toFixed(2);
    const op = operatingPoint(points, t, totals);
    marker.setAttribute('cx', X(op.fpr).toFixed(1));
    marker.setAttribute('cy', Y(op.tpr).toFixed(1));
    const rows = [['precision', fmtNum(op.precision, 3)], ['recall', fmtNum(op.recall, 3)], ['FPR', fmtNum(op.fpr, 3)],
      ['TPR', fmtNum(op.tpr, 3)], ['true positives', fmtInt(op.tp)], ['false positives', fmtInt(op.fp)],
      ['false negatives', fmtInt(op.fn)], ['true negatives', fmtInt(op.tn)],
      ['point threshold', op.threshold == null ? 'none positive' : fmtNum(op.threshold, 4)]];
    $('#eval-operating').replaceChildren(...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { dataset: { key: k }, text: v })]));
  };
  slider.oninput = update;
  update();
}

let cellRun = 0;
/** Lists cell (t, p)'s samples, a page at a time, each a button that shows its feature maps. */
async function showCell(e, t, p) {
  const classes = e.classes || [];
  const count = (e.confusion_matrix[t] || [])[p] || 0;
  for (const b of document.querySelectorAll('#eval-matrix .cell[aria-pressed]')) b.removeAttribute('aria-pressed');
  const cell = document.querySelector(`#eval-matrix .cell[data-true="${t}"][data-predicted="${p}"]`);
  if (cell) cell.setAttribute('aria-pressed', 'true');
  const title = `${classes[t]} predicted as ${classes[p]}: ${fmtInt(count)}`;
  const note = t === p ? 'Right predictions, the most confident first.' : 'Wrong predictions, the most confident first.';
  const list = h('ul', { class: 'sample-grid', 'aria-label': title, 'data-testid': 'cell-samples' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true, text: 'Show more' });
  const status = h('p', { class: 'hint' });
  $('#eval-cell').replaceChildren(h('h3', { text: title }), h('p', { class: 'hint', text: `${note} Choose an image to see its feature maps.` }),
    list, status, more);
  const run = ++cellRun;
  const id = shown.id;
  const load = async () => {
    more.disabled = true;
    try {
      const d = await api('GET', `/v1/models/${enc(id)}/evaluation/cells/${t}/${p}${cellQuery(e.split, list.children.length)}`);
      if (run !== cellRun) return;
      list.append(...d.samples.map((s) => h('li', {}, h('button', {
        type: 'button', class: 'cell-sample', dataset: { index: String(s.index) },
        'aria-label': `Sample ${s.index}, ${fmtPct(s.probability)} ${classes[p]}. Show feature maps.`,
        onclick: (ev) => sampleFeatureMaps(ev.currentTarget, s, `${e.split} sample ${s.index} (${classes[t]})`),
      }, h('img', { src: s.image, alt: '', class: 'pixelated' }), h('span', { text: `#${s.index} · ${fmtPct(s.probability)}` })))));
      status.textContent = `Showing ${fmtInt(list.children.length)} of ${fmtInt(d.count)}.`;
      more.hidden = list.children.length >= d.count;
    } catch (err) {
      if (run === cellRun) showError($('#eval-fm-error'), err);
    } finally {
      more.disabled = false;
    }
  };
  more.onclick = load;
  announce(title);
  await load();
}

/** The feature maps of one of a cell's images: its PNG, as the model saw it, sent back through the model. */
async function sampleFeatureMaps(button, sample, name) {
  for (const b of document.querySelectorAll('#eval-cell .cell-sample[aria-pressed]')) b.removeAttribute('aria-pressed');
  button.setAttribute('aria-pressed', 'true');
  const out = $('#eval-fm'), errorBox = $('#eval-fm-error');
  try {
    const blob = await apiBlob('GET', sample.image);
    await showFeatureMaps({ modelId: shown.id, blob, name, out, errorBox });
  } catch (err) {
    showError(errorBox, err);
  }
}
