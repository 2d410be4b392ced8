// One job: its header, progress, curves, epoch table and model; and the live updates of every active job —
// an EventSource per job (a few at most: browsers allow six connections per server), polling for the rest and
// whenever a stream fails.
import { api, connection, enc, setConnection } from './api.js';
import { $, announce, cssVar, h, notify } from './dom.js';
import { ACTIVE, FINISHED, fmtDate, fmtDuration, fmtInt, fmtNum, isNum, progressOf } from './format.js';
import { metricName, pointsFor } from './series.js';
import { optimizerOf, specText } from './spec.js';
import { bestEpoch, bestHeadline, overfittingRegions } from './curves.js';
import { compareIds, detail, epochCache, jobOrder, jobs, page, pollingJobs, streams } from './state.js';
import { loadJobs, onJobUpdate, onStateChange, refreshJobItem, renderJobList } from './jobs.js';
import { loadCompare } from './compare.js';
import { loadModels } from './models.js';

const MAX_STREAMS = 3;

export async function enterJobs(id) {
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
      api('GET', `/v1/jobs/${enc(id)}`),
      api('GET', `/v1/jobs/${enc(id)}/epochs`),
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

export function renderDetailHead() {
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
  $('#job-delete').hidden = !FINISHED.has(job.state);
  $('#job-epochs-csv').href = `/v1/jobs/${enc(job.id)}/epochs?format=csv`;
  $('#job-metrics-csv').href = `/v1/jobs/${enc(job.id)}/metrics?format=csv`;
  // The note is filled once per job shown, so a refresh never overwrites what the user is typing.
  if (detail.noteFor !== job.id) {
    detail.noteFor = job.id;
    $('#job-note').value = job.note || '';
    $('#job-note-status').textContent = '';
  }
  const predict = $('#job-predict');
  predict.hidden = !job.model_id;
  if (job.model_id) predict.href = `#/predict?model=${enc(job.model_id)}`;
  $('#job-model').hidden = !job.model_id;
  if (job.model_id) $('#job-model').href = `#/models/${enc(job.model_id)}`;
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
  const best = bestHeadline(detail.epochs, job.spec);
  if (best) parts.push(`best epoch ${best.epoch}: ${best.key} ${fmtNum(best.value)}`);
  $('#job-progress-text').textContent = `${Math.round(progressOf(job) * 100)}% · ${parts.join(' · ')}`;
}

async function refreshDetailEpochs() {
  const id = detail.id;
  try {
    const d = await api('GET', `/v1/jobs/${enc(id)}/epochs`);
    if (detail.id !== id) return;
    detail.epochs = d.epochs; epochCache.set(id, d.epochs); renderEpochs(); updateCharts(); refreshJobItem(id);
  } catch { /* ignore */ }
}

/** Step series, downsampled by the server to about one point per pixel; at most every 1.5 s while live. */
export async function refreshMetrics(force) {
  const id = detail.id;
  if (!id) return;
  if (detail.metricsBusy) { detail.metricsQueued = true; return; }
  if (!force && Date.now() - detail.lastMetrics < 1500) return;
  detail.metricsBusy = true;
  detail.lastMetrics = Date.now();
  try {
    const { loss, accuracy } = page.charts;
    const n = Math.max(loss.maxPoints, accuracy.maxPoints);
    const d = await api('GET', `/v1/jobs/${enc(id)}/metrics?max_points=${n}`);
    if (detail.id === id) { detail.series = d.series || {}; updateCharts(); }
  } catch { /* keep the last series */ }
  finally {
    detail.metricsBusy = false;
    if (detail.metricsQueued) { detail.metricsQueued = false; setTimeout(() => refreshMetrics(false), 1500); }
  }
}

export function updateCharts() {
  if (!detail.job) return;
  const metric = metricName(detail.epochs, detail.series) || 'accuracy';
  $('#chart-acc-caption').textContent = metric.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
  const train = cssVar('--s-train'), val = cssVar('--s-val');
  const build = (key) => [
    { id: key, label: key, color: train, points: pointsFor(detail.job, detail.epochs, detail.series, key, detail.xMode), markers: detail.xMode === 'epoch' },
    { id: `val_${key}`, label: `val_${key}`, color: val, dash: [6, 4], markers: true, points: pointsFor(detail.job, detail.epochs, detail.series, `val_${key}`, detail.xMode) },
  ];
  page.charts.loss.setSeries(build('loss'), detail.xMode);
  page.charts.accuracy.setSeries(build(metric), detail.xMode);
  const marks = curveMarks();
  page.charts.loss.setMarks(marks);
  page.charts.accuracy.setMarks(marks);
}

/** The best epoch and the overfitting stretches, placed where each epoch ends on the current x axis (where the
 *  val_ points are drawn). */
function curveMarks() {
  const rows = detail.epochs || [];
  const at = new Map(pointsFor(detail.job, rows, {}, 'epoch', detail.xMode).map(([x, epoch]) => [epoch, x]));
  const best = bestEpoch(rows, detail.job.spec);
  const marks = overfittingRegions(rows).map((r) => ({ kind: 'overfitting', label: 'overfitting', from: at.get(r.from), to: at.get(r.to) }));
  if (best) marks.push({ kind: 'best', label: `best: epoch ${best.epoch} (${best.key} ${fmtNum(best.value, 4)})`, x: at.get(best.epoch) });
  return marks;
}

export function renderEpochs() {
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
  const best = bestEpoch(rows, detail.job.spec);
  table.tBodies[0].replaceChildren(...rows.map((r) => {
    const isBest = best && r.epoch === best.epoch;
    return h('tr', { class: isBest ? 'best' : null, title: isBest ? `best epoch (${best.key} ${fmtNum(best.value, 4)})` : null }, cols.map(([k], i) => {
      let v;
      if (k === 'epoch') v = isBest ? `${r.epoch} ★` : r.epoch;
      else if (k === 'duration_seconds') v = `${fmtNum(r[k], 2)} s`;
      else if (k === 'samples_per_second') v = fmtInt(r[k]);
      else v = fmtNum(r[k]);
      return i === 0 ? h('th', { scope: 'row', text: v }) : h('td', { text: v });
    }));
  }));
}

export async function loadDetailModel(modelId) {
  const id = detail.id;
  try {
    const model = await api('GET', `/v1/models/${enc(modelId)}`);
    if (detail.id !== id) return;
    detail.model = model;
    renderModel(model);
  } catch (err) {
    $('#model-summary').replaceChildren(h('p', { class: 'empty', text: `The model cannot be loaded: ${err.message}` }));
  }
}

/** Saves the note of the job shown (an empty note clears it). */
export async function saveNote() {
  const id = detail.id;
  if (!id) return;
  const text = $('#job-note').value;
  const status = $('#job-note-status');
  status.textContent = 'Saving…';
  try {
    const job = await api('PATCH', `/v1/jobs/${enc(id)}`, { json: { note: text.trim() ? text : null } });
    onJobUpdate(job);
    if (detail.id === id) status.textContent = 'Saved.';
  } catch (err) {
    if (detail.id === id) status.textContent = `Not saved: ${err.message}`;
  }
}

/** Deletes the model shown after the user confirms; its job stays, without a model. */
async function deleteModel(model) {
  if (!window.confirm(`Delete model ${model.id}? Its weights are removed; the job that trained it stays.`)) return;
  try {
    await api('DELETE', `/v1/models/${enc(model.id)}`);
  } catch (err) {
    if (err.status !== 404) { notify(`Cannot delete the model: ${err.message}`, 'error'); return; }
  }
  $('#model-summary').replaceChildren(h('p', { class: 'empty', text: `Model ${model.id} was deleted.` }));
  announce(`Deleted model ${model.id}`);
  if (detail.job && detail.job.model_id === model.id) { detail.job.model_id = null; renderDetailHead(); }
  loadModels(true);
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
    model.class_names ? h('p', { class: 'class-list', text: `Classes: ${model.class_names.join(', ')}` }) : null,
    h('button', { type: 'button', id: 'model-delete', class: 'small danger', onclick: () => deleteModel(model),
                  'aria-label': `Delete model ${model.id}` }, 'Delete model'));
}

// ---------------------------------------------------------------------------------------------------------
// Live updates

export function ensureStreams() {
  if (typeof EventSource !== 'function') {
    for (const id of jobOrder) if (ACTIVE.has(jobs.get(id).state)) pollingJobs.add(id);
  }
  const active = jobOrder.filter((id) => ACTIVE.has(jobs.get(id).state) && !pollingJobs.has(id));
  active.sort((a, b) => (b === detail.id) - (a === detail.id) || (jobs.get(b).state === 'running') - (jobs.get(a).state === 'running'));
  const want = new Set(active.slice(0, MAX_STREAMS));
  for (const [id, es] of streams) if (!want.has(id)) { es.close(); streams.delete(id); }
  for (const id of want) if (!streams.has(id)) openStream(id);
  const anyActive = jobOrder.some((id) => ACTIVE.has(jobs.get(id).state));
  if (connection.mode !== 'offline') setConnection(streams.size || !anyActive ? 'live' : 'polling');
  schedulePoll();
}

function openStream(id) {
  const es = new EventSource(`/v1/jobs/${enc(id)}/events`);
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
    job.live_metrics = metrics;
    if (job.state === 'queued') {
      // Progress means a worker took the job, whether or not its state event has arrived yet: say so
      // everywhere the state shows (list, comparison picker, the job's badge) and announce it.
      job.state = 'running';
      onStateChange(job, 'queued');
      renderJobList();
      if (detail.id === id) renderDetailHead();
    } else {
      refreshJobItem(id);
    }
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
    if (page.view === 'compare' && compareIds.has(id)) loadCompare();
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
export function schedulePoll() {
  clearTimeout(pollTimer);
  const anyActive = jobOrder.some((id) => ACTIVE.has(jobs.get(id).state));
  const fallback = [...pollingJobs].some((id) => jobs.has(id) && ACTIVE.has(jobs.get(id).state));
  const delay = document.hidden ? 30000 : fallback ? 2000 : anyActive ? 5000 : 15000;
  pollTimer = setTimeout(poll, delay);
}

export async function poll() {
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
