// The jobs list: the Job objects as they arrive (list loads, events, polls, actions), the list items, best
// values, cancelling, and what a change of state sets off.
import { api, enc } from './api.js';
import { $, announce, h, notify } from './dom.js';
import { bestHeadline } from './curves.js';
import { FINISHED, fmtAgo, fmtDate, fmtDuration, fmtInt, fmtNum, isNum, progressOf } from './format.js';
import { compareIds, detail, epochCache, jobOrder, jobs, page, streams } from './state.js';
import { ensureStreams, loadDetailModel, refreshMetrics, renderDetailHead, renderEpochs, updateCharts } from './job.js';
import { renderComparePicker, saveCompare } from './compare.js';
import { loadModels } from './models.js';

/** The list's filter as a query string ('' for none): state, a name-or-note search (q) and a dataset. */
export function filterQuery() {
  const q = new URLSearchParams();
  for (const [key, sel] of [['state', '#filter-state'], ['q', '#filter-q'], ['dataset', '#filter-dataset']]) {
    const v = $(sel).value.trim();
    if (v) q.set(key, v);
  }
  return q.toString();
}

export function upsertJob(job) {
  const old = jobs.get(job.id);
  // A job was deleted here: a late event or answer must not bring it back.
  if (deletedIds.has(job.id)) return job;
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

export async function loadJobs(more = false) {
  const filter = filterQuery();
  const base = `/v1/jobs?limit=50${filter ? `&${filter}` : ''}`;
  const path = more && page.nextCursor ? `${base}&cursor=${enc(page.nextCursor)}` : base;
  const data = await api('GET', path);
  // Filtered, the first page replaces the list (the server did the matching); unfiltered, pages and polls merge.
  if (filter !== page.filter || (filter && !more)) {
    page.filter = filter;
    if (!more) { jobOrder.splice(0); page.nextCursor = null; }
  }
  for (const job of data.jobs) {
    const before = jobs.get(job.id);
    upsertJob(job);
    if (before && before.state !== job.state) onStateChange(jobs.get(job.id), before.state);
  }
  if (more || !page.nextCursor) page.nextCursor = data.next_cursor;
  renderJobList();
  ensureStreams();
  loadBestValues();
}

const listItems = new Map();
export function renderJobList() {
  const list = $('#job-list');
  $('#jobs-empty').hidden = jobOrder.length > 0 || Boolean(page.filter);
  $('#jobs-nomatch').hidden = jobOrder.length > 0 || !page.filter;
  for (const [id, li] of listItems) if (!jobOrder.includes(id)) { li.remove(); listItems.delete(id); }
  $('#jobs-more').hidden = !page.nextCursor;
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
    <div class="job-line"><a class="job-name" href="#/jobs/${enc(id)}"></a><span class="badge"></span></div>
    <progress max="1" value="0"></progress>
    <div class="job-stats"><span class="s-epoch"></span><span class="s-rate"></span><span class="s-eta"></span><span class="s-best"></span></div>
    <div class="job-line"><span class="job-meta"></span><button type="button" class="small danger job-cancel">Cancel</button><button type="button" class="small danger job-delete">Delete</button></div>`;
  li.querySelector('.job-cancel').addEventListener('click', () => cancelJob(id));
  li.querySelector('.job-delete').addEventListener('click', () => deleteJob(id));
  return li;
}

function updateJobItem(li, job) {
  const name = li.querySelector('.job-name');
  name.textContent = job.name || job.id;
  const selected = page.view === 'jobs' && detail.id === job.id;
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
  const best = bestHeadline(epochCache.get(job.id), job.spec);
  const bestEl = li.querySelector('.s-best');
  bestEl.replaceChildren();
  if (best) bestEl.append(`best epoch ${best.epoch}: ${best.key} `, h('strong', { text: fmtNum(best.value) }));
  const meta = li.querySelector('.job-meta');
  meta.textContent = `${job.id} · ${fmtAgo(job.created_at)}`;
  meta.title = `created ${fmtDate(job.created_at)}`;
  const cancel = li.querySelector('.job-cancel');
  cancel.hidden = !(job.state === 'queued' || job.state === 'running');
  cancel.setAttribute('aria-label', `Cancel job ${job.name} (${job.id})`);
  const del = li.querySelector('.job-delete');
  del.hidden = !FINISHED.has(job.state);
  del.setAttribute('aria-label', `Delete job ${job.name} (${job.id})`);
}

export function refreshJobItem(id) {
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
        try { epochCache.set(id, (await api('GET', `/v1/jobs/${enc(id)}/epochs`)).epochs); refreshJobItem(id); } catch { /* shown elsewhere */ }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
  } finally { bestLoading = false; }
}

export async function cancelJob(id) {
  const job = jobs.get(id);
  try {
    const updated = await api('POST', `/v1/jobs/${enc(id)}/cancel`);
    onJobUpdate(updated);
    announce(`Cancelling job ${updated.name}`);
  } catch (err) {
    notify(err.status === 409 ? `${job ? job.name : id} has already finished.` : `Cannot cancel: ${err.message}`, 'error');
    refreshJob(id);
  }
}

const deletedIds = new Set();

/** Deletes a finished job after the user confirms; it leaves the list, the comparison and the detail view. */
export async function deleteJob(id) {
  const job = jobs.get(id);
  const name = job ? job.name : id;
  if (!window.confirm(`Delete job ${name} (${id})? Its epochs, step metrics and checkpoints are removed; its model stays.`)) return;
  try {
    await api('DELETE', `/v1/jobs/${enc(id)}`);
  } catch (err) {
    if (err.status !== 404) {
      notify(err.status === 409 ? `${name} is still running: cancel it first.` : `Cannot delete: ${err.message}`, 'error');
      return;
    }
  }
  deletedIds.add(id);
  jobs.delete(id);
  epochCache.delete(id);
  const i = jobOrder.indexOf(id);
  if (i >= 0) jobOrder.splice(i, 1);
  if (compareIds.delete(id)) saveCompare();
  if (detail.id === id) { detail.id = null; location.hash = '#/jobs'; }
  renderJobList();
  announce(`Deleted job ${name}`);
}

/** A newer Job object arrived (event, poll or action). */
export function onJobUpdate(job) {
  const before = jobs.get(job.id);
  const merged = upsertJob(job);
  if (before && before.state !== job.state) onStateChange(merged, before.state);
  renderJobList();
  if (detail.id === job.id) { detail.job = merged; renderDetailHead(); }
  ensureStreams();
}

export function onStateChange(job, oldState) {
  if (oldState === job.state) return;
  if (FINISHED.has(job.state)) {
    announce(`Job ${job.name} ${job.state}${job.error ? `: ${job.error}` : ''}`);
    // The final numbers: epochs, step metrics, and the model.
    api('GET', `/v1/jobs/${enc(job.id)}/epochs`).then((d) => {
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

export async function refreshJob(id) {
  try { onJobUpdate(await api('GET', `/v1/jobs/${enc(id)}`)); } catch { /* ignore */ }
}
