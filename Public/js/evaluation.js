// The model page (#/models/{id}): the model's stored evaluation as a confusion-matrix heat map (rows the true
// class, columns the predicted one) beside its per-class table; a click on a cell lists that cell's images.
import { api, enc } from './api.js';
import { $, announce, h, showError } from './dom.js';
import { fmtInt, fmtNum, fmtPct, isNum } from './format.js';

let shown = null;   // { id, evaluation } of the page on screen

/** The heat map's shade of a cell: its share of the true class's row, so every class reads on the same scale. */
export function cellShade(count, rowTotal) {
  return rowTotal > 0 ? Math.min(1, count / rowTotal) : 0;
}

/** The misclassified samples of one cell (true row `t`, predicted column `p`), as the evaluation names them. */
export function cellSamples(evaluation, t, p) {
  const classes = evaluation.classes || [];
  return (evaluation.misclassified || []).filter((m) => m.true_label === classes[t] && m.predicted_label === classes[p]);
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
  try {
    const [model, evaluation] = await Promise.all([api('GET', `/v1/models/${enc(id)}`),
      api('GET', `/v1/models/${enc(id)}/evaluation`)]);
    shown = { id, evaluation };
    $('#eval-title').textContent = `${model.name} · ${model.id}`;
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
}

function showCell(e, t, p) {
  const classes = e.classes || [];
  const count = (e.confusion_matrix[t] || [])[p] || 0;
  const samples = t === p ? [] : cellSamples(e, t, p);
  for (const b of document.querySelectorAll('#eval-matrix .cell[aria-pressed]')) b.removeAttribute('aria-pressed');
  const cell = document.querySelector(`#eval-matrix .cell[data-true="${t}"][data-predicted="${p}"]`);
  if (cell) cell.setAttribute('aria-pressed', 'true');
  const title = `${classes[t]} predicted as ${classes[p]}: ${fmtInt(count)}`;
  const note = t === p ? 'Correct predictions; the page lists the wrong ones.'
    : samples.length < count ? `The ${samples.length} most confident of them (the evaluation keeps the 50 most confidently wrong overall).` : '';
  $('#eval-cell').replaceChildren(h('h3', { text: title }), note ? h('p', { class: 'hint', text: note }) : '',
    h('ul', { class: 'sample-grid', 'aria-label': title }, samples.map((m) => h('li', { class: 'cell-sample', dataset: { index: String(m.index) } },
      h('img', { src: m.image, alt: `${m.true_label} #${m.index}`, class: 'pixelated' }),
      h('span', { text: `#${m.index} · ${fmtPct(m.probability)}` })))));
  announce(title);
}
