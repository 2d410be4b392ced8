// Compare: the job picker, one chart of a metric across the picked jobs, and their hyper-parameters and final
// metrics side by side.
import { api, enc } from './api.js';
import { $, cssVar, h, storage } from './dom.js';
import { FINISHED, fmtInt, fmtNum, isNum, toCSV } from './format.js';
import { pointsFor } from './series.js';
import { estimateParams, layerCount, optimizerOf } from './spec.js';
import { compareIds, detail, epochCache, jobOrder, jobs, page } from './state.js';
import { renderJobList, upsertJob } from './jobs.js';
import { renderDetailHead } from './job.js';

const compareData = new Map(); // id → {epochs, series, model}
const palette = () => [1, 2, 3, 4, 5, 6, 7, 8].map((i) => cssVar(`--c${i}`));
const xModeOf = () => document.querySelector('input[name="compare-x"]:checked').value;

export function saveCompare() {
  storage('sequent.compare', [...compareIds].join(','));
  const count = $('#compare-count');
  count.hidden = compareIds.size === 0;
  count.textContent = String(compareIds.size);
  if (page.view === 'compare') history.replaceState(null, '', `#/compare${compareIds.size ? `?ids=${[...compareIds].map(enc).join(',')}` : ''}`);
  if (detail.job) renderDetailHead();
}

export function renderComparePicker() {
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

export function enterCompare(query) {
  const ids = query.get('ids');
  if (ids != null) { compareIds.clear(); for (const id of ids.split(',').filter(Boolean)) compareIds.add(id); }
  saveCompare();
  renderComparePicker();
  loadCompare();
}

let compareBusy = null;
export async function loadCompare() {
  const xMode = xModeOf();
  const ids = [...compareIds];
  const run = Symbol('compare');
  compareBusy = run;
  await Promise.all(ids.map(async (id) => {
    let entry = compareData.get(id) || {};
    try {
      let job = jobs.get(id);
      if (!job) { job = upsertJob(await api('GET', `/v1/jobs/${enc(id)}`)); renderJobList(); }
      const finished = FINISHED.has(job.state);
      if (!entry.final || !finished) {
        entry.epochs = (await api('GET', `/v1/jobs/${enc(id)}/epochs`)).epochs;
        epochCache.set(id, entry.epochs);
        entry.series = null;
        entry.final = finished;
      }
      if (xMode !== 'epoch' && !entry.series) {
        entry.series = (await api('GET', `/v1/jobs/${enc(id)}/metrics?max_points=${page.charts.compare.maxPoints}`)).series;
      }
      if (job.model_id && !entry.model) entry.model = await api('GET', `/v1/models/${enc(job.model_id)}`);
    } catch (err) {
      entry = { ...entry, error: err.message };
      if (err.status === 404) { compareIds.delete(id); saveCompare(); }
    }
    compareData.set(id, entry);
  }));
  if (compareBusy === run) renderCompare();
}

let compareRows = [];   // the table's rows as values, for its CSV download

/** Points the "Download CSV" link at the comparison table as a CSV file (the values unrounded, each job's id
 *  beside its name), freeing the previous file. */
function linkCompareCSV() {
  const columns = ['Job', 'id', 'State', 'Optimizer', 'Learning rate', 'Batch', 'Epochs', 'Layers', 'Params', 'loss', 'accuracy',
    'val_loss', 'val_accuracy', 'best val_acc', 'test acc'];
  const link = $('#compare-csv');
  if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([toCSV(columns, compareRows)], { type: 'text/csv' }));
  link.hidden = compareRows.length === 0;
}

export function renderCompare() {
  const xMode = xModeOf();
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
  page.charts.compare.setSeries(ids.map((id, i) => {
    const d = compareData.get(id) || {};
    const job = jobs.get(id);
    return { id, label: `${job.name} (${id.slice(0, 8)})`, color: colors[i % colors.length], markers: xMode === 'epoch',
             points: pointsFor(job, d.epochs, d.series, metric, xMode) };
  }), xMode);

  // Hyper-parameters and final metrics.
  const table = $('#compare-table');
  const cols = ['Job', 'State', 'Optimizer', 'Learning rate', 'Batch', 'Epochs', 'Layers', 'Params', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'best val_acc', 'test acc'];
  table.tHead.replaceChildren(h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: c === 'Job' || c === 'Optimizer' ? 'text' : null, text: c }))));
  compareRows = [];
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
    compareRows.push({ Job: job.name, id, State: job.state, Optimizer: opt.name, 'Learning rate': lr, Batch: spec.fit && spec.fit.batch_size,
      Epochs: rows.length, Layers: layers, Params: params, loss: last.loss, accuracy: last.accuracy, val_loss: last.val_loss,
      val_accuracy: last.val_accuracy, 'best val_acc': best, 'test acc': test });
    const name = h('th', { scope: 'row' }, h('span', { class: 'swatch', style: `background:${colors[i % colors.length]};margin-right:.4rem` }),
      h('a', { href: `#/jobs/${enc(id)}`, text: job.name }), h('span', { class: 'job-meta block-meta', text: id }));
    return h('tr', {}, name,
      h('td', {}, h('span', { class: 'badge', dataset: { state: job.state }, text: job.state })),
      h('td', { class: 'text', text: opt.name }), h('td', { text: fmtNum(lr, 6) }), h('td', { text: (spec.fit && spec.fit.batch_size) ?? '—' }),
      h('td', { text: epochsText }), h('td', { text: layers ?? '—' }), h('td', { text: params == null ? '—' : fmtInt(params) }),
      h('td', { text: fmtNum(last.loss) }), h('td', { text: fmtNum(last.accuracy) }), h('td', { text: fmtNum(last.val_loss) }),
      h('td', { text: fmtNum(last.val_accuracy) }), h('td', { text: fmtNum(best) }), h('td', { text: fmtNum(test) }));
  }));
  if (!ids.length) table.tBodies[0].append(h('tr', {}, h('td', { colspan: String(cols.length), class: 'text empty', text: 'No job selected.' })));
  linkCompareCSV();
}
