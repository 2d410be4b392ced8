// Sequent dashboard: jobs (live through Server-Sent Events), curves drawn on <canvas>, run comparison,
// prediction and a look at the training data. Plain JavaScript modules, no libraries, no network beyond this
// server. This module routes between the views and wires the page's controls to them.
import { connection } from './api.js';
import { $, announce, notify, storage } from './dom.js';
import { Chart } from './chart.js';
import { compareIds, detail, page, streams } from './state.js';
import { cancelJob, deleteJob, loadJobs } from './jobs.js';
import { enterJobs, poll, saveNote, schedulePoll, updateCharts } from './job.js';
import { QUICK_FIELDS, applyRecipe, closeForm, editor, clearSpecError, loadRecipes, openForm, quickEdit, showParseError,
  submitJob, syncQuick } from './form.js';
import { enterCompare, loadCompare, renderCompare, saveCompare } from './compare.js';
import { enterPredict, predictArchive, predictFiles } from './models.js';
import { enterModel } from './evaluation.js';
import { enterData, loadSamples, uploadedFeatureMaps } from './data.js';
import { specText } from './spec.js';

// ---------------------------------------------------------------------------------------------------------
// Routing: #/jobs, #/jobs/{id}, #/compare?ids=a,b, #/predict?model=m, #/models/{id}, #/data
const VIEWS = ['jobs', 'compare', 'predict', 'models', 'data'];
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  return { view: VIEWS.includes(parts[0]) ? parts[0] : 'jobs', id: parts[1] || null, query: new URLSearchParams(query) };
}

let firstRoute = true;
function route() {
  const r = parseHash();
  page.view = r.view;
  for (const section of document.querySelectorAll('.view')) section.hidden = section.dataset.view !== r.view;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === r.view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const titles = { jobs: 'Jobs', compare: 'Compare', predict: 'Predict', models: 'Model', data: 'Data' };
  document.title = `${titles[r.view]} · Sequent`;
  if (r.view === 'jobs') enterJobs(r.id);
  else if (r.view === 'compare') enterCompare(r.query);
  else if (r.view === 'predict') enterPredict(r.query);
  else if (r.view === 'models') enterModel(r.id);
  else if (r.view === 'data') enterData();
  if (page.focusAfterRoute) { page.focusAfterRoute.focus(); page.focusAfterRoute = null; }
  else if (!firstRoute) {
    const target = r.view === 'jobs' && r.id ? $('#job-title') : $(`#view-${r.view} h1`);
    if (target) target.focus({ preventScroll: false });
  }
  firstRoute = false;
}

// ---------------------------------------------------------------------------------------------------------
// Wiring
function slider(input, output, apply) {
  $(input).addEventListener('input', (e) => {
    const v = Number(e.target.value);
    $(output).textContent = v.toFixed(2);
    apply(v);
  });
}

function init() {
  page.charts.loss = new Chart($('#chart-loss'), { title: 'Loss' });
  page.charts.accuracy = new Chart($('#chart-acc'), { title: 'Accuracy' });
  page.charts.compare = new Chart($('#compare-chart'), { title: 'Comparison' });
  connection.liveStreams = () => streams.size;

  $('#new-job-toggle').addEventListener('click', () => ($('#new-job').hidden ? openForm() : closeForm()));
  $('#close-new-job').addEventListener('click', closeForm);
  $('#recipe-select').addEventListener('change', (e) => { if (e.target.value !== '__job') applyRecipe(e.target.value); });
  $('#new-job').addEventListener('submit', submitJob);
  $('#format-json').addEventListener('click', () => {
    try { editor().value = specText(JSON.parse(editor().value)); clearSpecError(); } catch (err) { showParseError(err); }
  });
  editor().addEventListener('input', () => { if (editor().getAttribute('aria-invalid')) clearSpecError(); syncQuick(); });
  editor().addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); $('#new-job').requestSubmit(); }
  });
  for (const [sel, path] of QUICK_FIELDS) $(sel).addEventListener('input', (e) => quickEdit(path, e.target));
  $('#jobs-more').addEventListener('click', () => loadJobs(true).catch((err) => notify(err.message, 'error')));

  $('#job-cancel').addEventListener('click', () => detail.id && cancelJob(detail.id));
  $('#job-delete').addEventListener('click', () => detail.id && deleteJob(detail.id));
  $('#job-note-form').addEventListener('submit', (e) => { e.preventDefault(); saveNote(); });
  // Filters apply as they change; typing waits for a pause, so each keystroke is not a request.
  let filterTimer = null;
  const applyFilter = () => loadJobs().catch((err) => notify(err.message, 'error'));
  $('#job-filter').addEventListener('submit', (e) => { e.preventDefault(); applyFilter(); });
  $('#filter-state').addEventListener('change', applyFilter);
  for (const sel of ['#filter-q', '#filter-dataset']) {
    $(sel).addEventListener('input', () => { clearTimeout(filterTimer); filterTimer = setTimeout(applyFilter, 300); });
  }
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
  slider('#job-smoothing', '#job-smoothing-out', (v) => { page.charts.loss.setSmoothing(v); page.charts.accuracy.setSmoothing(v); });

  $('#compare-metric').addEventListener('change', renderCompare);
  for (const r of document.querySelectorAll('input[name="compare-x"]')) r.addEventListener('change', loadCompare);
  slider('#compare-smoothing', '#compare-smoothing-out', (v) => page.charts.compare.setSmoothing(v));

  const input = $('#predict-files');
  // Reset the input after reading it, so choosing the same file again classifies it again.
  input.addEventListener('change', () => { const files = [...input.files]; input.value = ''; predictFiles(files); });
  const zip = $('#predict-zip');
  zip.addEventListener('change', () => { const file = zip.files[0]; zip.value = ''; predictArchive(file); });
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
    if (file) uploadedFeatureMaps(file);
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
    updateCharts(); if (page.view === 'compare') renderCompare();
  });
  window.addEventListener('hashchange', route);

  saveCompare();
  loadRecipes();
  loadJobs().catch((err) => { notify(`Cannot load jobs: ${err.message}`, 'error'); schedulePoll(); });
  route();
}

// For tests and the curious: the charts and the chart class.
window.sequentDashboard = { Chart, charts: () => ({ ...page.charts }) };
init();
